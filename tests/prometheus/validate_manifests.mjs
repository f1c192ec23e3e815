// Offline validation of the Kubernetes manifests in deploy/ against the Kubernetes OpenAPI schemas bundled in
// the npm packages kubernetes-models and @kubernetes-models/prometheus-operator (ajv validators generated from
// the upstream OpenAPI documents; no network, no cluster).
//
// Two checks per object:
//   1. schema: types, required fields, formats, enums (the package's validate()).
//   2. strict fields: every key must be a field of its type (what `kubectl --validate=strict` rejects and the
//      schema check alone lets through, e.g. a misspelt `mountPropogation` that the API server would drop).
//      Field lists come from the packages' TypeScript declarations, which are generated from the same schemas.
//
// Usage: node validate_manifests.mjs FILE.yaml...   (run from a directory whose node_modules has the packages)
// Prints one line per object and "N passed, N failed"; exit 1 on any failure.
import fs from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";

const nodeModules = path.join(path.dirname(new URL(import.meta.url).pathname), "node_modules");

// apiVersion/kind -> [module, export]
const MODELS = {
  "v1/Namespace": ["kubernetes-models/v1/Namespace", "Namespace"],
  "v1/Service": ["kubernetes-models/v1/Service", "Service"],
  "v1/ServiceAccount": ["kubernetes-models/v1/ServiceAccount", "ServiceAccount"],
  "v1/ConfigMap": ["kubernetes-models/v1/ConfigMap", "ConfigMap"],
  "apps/v1/DaemonSet": ["kubernetes-models/apps/v1/DaemonSet", "DaemonSet"],
  "apps/v1/Deployment": ["kubernetes-models/apps/v1/Deployment", "Deployment"],
  "autoscaling/v2/HorizontalPodAutoscaler": ["kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler",
    "HorizontalPodAutoscaler"],
  "monitoring.coreos.com/v1/ServiceMonitor": [
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor", "ServiceMonitor"],
  "monitoring.coreos.com/v1/PrometheusRule": [
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule", "PrometheusRule"],
};

// ---------------------------------------------------------------- strict field check from .d.ts declarations
const declCache = new Map();

function resolveDecl(spec, fromFile) {
  let p;
  if (spec.startsWith(".")) p = path.resolve(path.dirname(fromFile), spec);
  else p = path.join(nodeModules, spec);
  p = p.replace(/\.js$/, "");
  for (const cand of [p + ".d.ts", path.join(p, "index.d.ts")]) if (fs.existsSync(cand)) return cand;
  throw new Error(`cannot resolve type declaration ${spec} from ${fromFile}`);
}

// Parses one .d.ts: imports (name -> file) and interfaces (name -> {props: name -> type text}).
function parseDecl(file) {
  if (declCache.has(file)) return declCache.get(file);
  const src = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const imports = new Map();
  for (const m of src.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const part of m[1].split(",")) {
      const [orig, alias] = part.trim().split(/\s+as\s+/);
      if (orig) imports.set((alias || orig).trim(), { file: m[2], name: orig.trim() });
    }
  }
  const interfaces = new Map();
  for (const m of src.matchAll(/export interface (\w+)(?:\s+extends\s+([\w, ]+))?\s*\{/g)) {
    let i = m.index + m[0].length, depth = 1, body = "";
    for (; i < src.length && depth > 0; i++) {
      if (src[i] === "{") depth++;
      else if (src[i] === "}") depth--;
      if (depth > 0) body += src[i];
    }
    const props = new Map();
    // top-level members only: split on ";" at brace/angle depth 0
    let d = 0, cur = "";
    for (const c of body) {
      if (c === "{" || c === "<" || c === "(") d++;
      else if (c === "}" || c === ">" || c === ")") d--;
      if (c === ";" && d === 0) {
        const mm = cur.trim().match(/^"?([\w$.\-/]+)"?\??\s*:\s*([\s\S]+)$/);
        if (mm) props.set(mm[1], mm[2].trim());
        cur = "";
      } else cur += c;
    }
    const ext = (m[2] || "").split(",").map((s) => s.trim()).filter(Boolean);
    if (ext.includes("TypeMeta")) { props.set("apiVersion", "string"); props.set("kind", "string"); }
    interfaces.set(m[1], { props, ext });
  }
  // `export type { IDaemonSet as IIoK8sApiAppsV1DaemonSet }` re-exports
  for (const m of src.matchAll(/export type \{([^}]*)\}/g)) {
    for (const part of m[1].split(",")) {
      const [orig, alias] = part.trim().split(/\s+as\s+/);
      if (alias && interfaces.has(orig.trim())) interfaces.set(alias.trim(), interfaces.get(orig.trim()));
    }
  }
  const decl = { file, imports, interfaces };
  declCache.set(file, decl);
  return decl;
}

// Finds the interface named `name` as seen from declaration file `file`: [decl, iface] or null.
function lookup(name, file) {
  const decl = parseDecl(file);
  if (decl.interfaces.has(name)) return [decl, decl.interfaces.get(name)];
  const imp = decl.imports.get(name);
  // The base package holds Model/TypeMeta plumbing, no API fields (TypeMeta is handled in parseDecl).
  if (!imp || imp.file === "@kubernetes-models/base") return null;
  return lookup(imp.name, resolveDecl(imp.file, file));
}

function checkFields(value, typeText, file, where, errors) {
  if (value === null || value === undefined) return;
  const t = typeText.trim().replace(/\s*\|\s*null$/, "");
  let m;
  if ((m = t.match(/^Array<([\s\S]+)>$/))) {
    if (Array.isArray(value)) value.forEach((v, i) => checkFields(v, m[1], file, `${where}[${i}]`, errors));
    return;
  }
  if ((m = t.match(/^\{\s*\[\w+:\s*string\]\s*:\s*([\s\S]+?);?\s*\}$/))) {
    if (typeof value === "object") for (const [k, v] of Object.entries(value)) checkFields(v, m[1], file, `${where}.${k}`, errors);
    return;
  }
  if (!/^\w+$/.test(t) || typeof value !== "object" || Array.isArray(value)) return;
  const found = lookup(t, file);
  if (!found) return; // a scalar alias (Quantity, IntOrString, Time, ...)
  const [decl, iface] = found;
  const props = new Map(iface.props);
  for (const e of iface.ext) {
    const base = lookup(e, decl.file);
    if (base) for (const [k, v] of base[1].props) props.set(k, v);
  }
  if (props.size === 0) return; // free-form object
  for (const [k, v] of Object.entries(value)) {
    if (!props.has(k)) errors.push(`${where}.${k}: unknown field (not in ${t.replace(/^I(?=[A-Z])/, "")})`);
    else checkFields(v, props.get(k), decl.file, `${where}.${k}`, errors);
  }
}

// ---------------------------------------------------------------- main
let passed = 0, failed = 0;
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate_manifests.mjs FILE.yaml...");
  process.exit(2);
}
for (const f of files) {
  const docs = parseAllDocuments(fs.readFileSync(f, "utf8"));
  for (const [n, doc] of docs.entries()) {
    const what = `${path.basename(f)}#${n}`;
    if (doc.errors.length) {
      console.log(`FAIL  ${what}: YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
      failed++;
      continue;
    }
    const obj = doc.toJS();
    if (obj === null) continue;
    const key = `${obj.apiVersion}/${obj.kind}`;
    const label = `${what} ${obj.kind}/${obj.metadata?.name}`;
    if (key === "kustomize.config.k8s.io/v1beta1/Kustomization") {
      // Not an API object: check that every resource it lists exists and is one of the validated files.
      const dir = path.dirname(path.resolve(f));
      const missing = (obj.resources || []).filter((r) => !fs.existsSync(path.join(dir, r)));
      const unlisted = (obj.resources || []).filter((r) => !files.some((x) => path.resolve(x) === path.join(dir, r)));
      if (missing.length || unlisted.length || !(obj.resources || []).length) {
        console.log(`FAIL  ${what} Kustomization: missing ${missing.join(", ") || "-"}; not validated ${unlisted.join(", ") || "-"}`);
        failed++;
      } else {
        console.log(`ok    ${what} Kustomization (${obj.resources.length} resources exist and are validated here)`);
        passed++;
      }
      continue;
    }
    const model = MODELS[key];
    if (!model) {
      console.log(`FAIL  ${label}: no schema for ${key}`);
      failed++;
      continue;
    }
    const mod = await import(model[0]);
    const errors = [];
    try {
      new mod[model[1]](obj).validate();
    } catch (e) {
      errors.push(`schema: ${e.message}`);
    }
    const declFile = resolveDecl(model[0], nodeModules + "/x");
    const iface = `I${model[1]}`;
    checkFields(obj, iface, declFile, model[1], errors);
    if (errors.length) {
      console.log(`FAIL  ${label}: ${errors.join("; ")}`);
      failed++;
    } else {
      console.log(`ok    ${label} (${key})`);
      passed++;
    }
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
