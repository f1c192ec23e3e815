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
  "rbac.authorization.k8s.io/v1/ClusterRole": ["kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole", "ClusterRole"],
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ["kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding",
    "ClusterRoleBinding"],
  "networking.k8s.io/v1/NetworkPolicy": ["kubernetes-models/networking.k8s.io/v1/NetworkPolicy", "NetworkPolicy"],
  "apps/v1/DaemonSet": ["kubernetes-models/apps/v1/DaemonSet", "DaemonSet"],
  "apps/v1/Deployment": ["kubernetes-models/apps/v1/Deployment", "Deployment"],
  "batch/v1/Job": ["kubernetes-models/batch/v1/Job", "Job"],
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
  // Fields of the interface and of everything it extends, transitively (prometheus-operator's Endpoint gets
  // tlsConfig from a grandparent).
  const props = new Map();
  const collect = (d, it) => {
    for (const e of it.ext) {
      const base = lookup(e, d.file);
      if (base) collect(base[0], base[1]);
    }
    for (const [k, v] of it.props) props.set(k, [v, d.file]);
  };
  collect(decl, iface);
  if (props.size === 0) return; // free-form object
  for (const [k, v] of Object.entries(value)) {
    if (!props.has(k)) errors.push(`${where}.${k}: unknown field (not in ${t.replace(/^I(?=[A-Z])/, "")})`);
    else checkFields(v, props.get(k)[0], props.get(k)[1], `${where}.${k}`, errors);
  }
}

// ---------------------------------------------------------------- kustomize, the subset deploy/ uses
// `resources` (files, or directories with a kustomization.yaml) and `patches` (`path` or inline `patch`, optional
// `target`): strategic merge for a patch object (lists of built-in kinds merged by their Kubernetes merge keys,
// other lists and every list of a custom resource replaced, null deletes), JSON 6902 (add, remove, replace) for a
// list of operations. Any other field is an error, never silently ignored. Where kubectl is installed,
// validate_manifests.sh compares this rendering with `kubectl kustomize`.
const KUSTOMIZATION_FIELDS = new Set(["apiVersion", "kind", "resources", "patches"]);
const MERGE_KEYS = { containers: "name", initContainers: "name", ephemeralContainers: "name", volumes: "name",
  env: "name", volumeMounts: "mountPath", imagePullSecrets: "name" };

function readDocs(file) {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such file`);
  const out = [];
  for (const doc of parseAllDocuments(fs.readFileSync(file, "utf8"))) {
    if (doc.errors.length) throw new Error(`${file}: YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
    const v = doc.toJS();
    if (v !== null) out.push(v);
  }
  return out;
}

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const builtin = (apiVersion) => !apiVersion.includes("/") || !apiVersion.split("/")[0].includes(".") ||
  apiVersion.split("/")[0].endsWith(".k8s.io");

function smp(base, patch, isBuiltin) {
  if (!isObj(base) || !isObj(patch)) return structuredClone(patch);
  const out = structuredClone(base);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isBuiltin && Array.isArray(v) && Array.isArray(out[k]) && (MERGE_KEYS[k] || k === "ports")) {
      const key = MERGE_KEYS[k] || (v.some((x) => "containerPort" in x) ? "containerPort" : "port");
      const list = structuredClone(out[k]);
      for (const item of v) {
        const i = list.findIndex((x) => isObj(x) && x[key] === item[key]);
        if (i >= 0) list[i] = smp(list[i], item, isBuiltin);
        else list.push(structuredClone(item));
      }
      out[k] = list;
    } else if (isObj(v) && isObj(out[k])) out[k] = smp(out[k], v, isBuiltin);
    else out[k] = structuredClone(v);
  }
  return out;
}

function json6902(obj, ops, where) {
  for (const op of ops) {
    const parts = op.path.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = parts.pop();
    let parent = obj;
    for (const p of parts) {
      parent = Array.isArray(parent) ? parent[Number(p)] : parent?.[p];
      if (parent === undefined) throw new Error(`${where}: ${op.op} ${op.path}: no such path`);
    }
    const has = Array.isArray(parent) ? (last === "-" || Number(last) < parent.length) : last in parent;
    if (op.op === "add") {
      if (Array.isArray(parent)) parent.splice(last === "-" ? parent.length : Number(last), 0, op.value);
      else parent[last] = op.value;
    } else if (op.op === "remove" || op.op === "replace") {
      if (!has) throw new Error(`${where}: ${op.op} ${op.path}: no such path`);
      if (op.op === "replace") parent[last] = op.value;
      else if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else throw new Error(`${where}: JSON 6902 op ${op.op} not supported here`);
  }
}

// Renders the kustomization in `dir`: [{obj, from}], or throws naming what is wrong.
function kustomize(dir) {
  const kfile = ["kustomization.yaml", "kustomization.yml", "Kustomization"].map((f) => path.join(dir, f))
    .find((f) => fs.existsSync(f));
  if (!kfile) throw new Error(`${dir}: no kustomization.yaml`);
  const [k] = readDocs(kfile);
  for (const f of Object.keys(k)) if (!KUSTOMIZATION_FIELDS.has(f)) throw new Error(`${kfile}: field ${f} not supported by this renderer`);
  if (!(k.resources || []).length) throw new Error(`${kfile}: no resources`);
  let objs = [];
  for (const r of k.resources) {
    const p = path.join(dir, r);
    if (fs.existsSync(p) && fs.statSync(p).isDirectory()) objs.push(...kustomize(p));
    else objs.push(...readDocs(p).map((obj) => ({ obj, from: path.relative(process.cwd(), p) })));
  }
  for (const [i, pt] of (k.patches || []).entries()) {
    const where = `${kfile} patches[${i}]`;
    const docs = pt.path ? readDocs(path.join(dir, pt.path)) : [parseAllDocuments(pt.patch)[0].toJS()];
    const matches = (o, t) => (!t.kind || o.kind === t.kind) && (!t.name || o.metadata?.name === t.name) &&
      (!t.namespace || o.metadata?.namespace === t.namespace);
    if (Array.isArray(docs[0])) {
      if (!pt.target) throw new Error(`${where}: a JSON 6902 patch needs a target`);
      const hit = objs.filter((o) => matches(o.obj, pt.target));
      if (!hit.length) throw new Error(`${where}: target ${JSON.stringify(pt.target)} matches nothing`);
      for (const o of hit) json6902(o.obj, docs[0], where);
    } else {
      for (const p of docs) {
        const t = pt.target || { kind: p.kind, name: p.metadata?.name, namespace: p.metadata?.namespace };
        const hit = objs.filter((o) => matches(o.obj, t));
        if (!hit.length) throw new Error(`${where}: no ${t.kind}/${t.name} to patch`);
        for (const o of hit) o.obj = smp(o.obj, p, builtin(o.obj.apiVersion));
      }
    }
  }
  return objs;
}

// Canonical form for comparing two renderings: objects sorted by kind/namespace/name, keys sorted.
function canon(objs) {
  const sortKeys = (v) => Array.isArray(v) ? v.map(sortKeys) : isObj(v)
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])])) : v;
  const id = (o) => `${o.kind}/${o.metadata?.namespace || ""}/${o.metadata?.name}`;
  return JSON.stringify([...objs].sort((a, b) => id(a).localeCompare(id(b))).map(sortKeys), null, 1);
}

// ---------------------------------------------------------------- main
let passed = 0, failed = 0;
const argv = process.argv.slice(2);
if (argv[0] === "--print" || argv[0] === "--canon") {  // one rendering / one YAML stream, canonical, to stdout
  try {
    console.log(canon(argv[0] === "--print" ? kustomize(argv[1]).map((o) => o.obj) : readDocs(argv[1])));
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
  process.exit(0);
}
// FILE.yaml... and --kustomize DIR (rendered, then every object validated)
const inputs = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--kustomize") inputs.push({ dir: argv[++i] });
  else inputs.push({ file: argv[i] });
}
const files = inputs.filter((x) => x.file).map((x) => x.file);
if (inputs.length === 0) {
  console.error("usage: node validate_manifests.mjs [FILE.yaml | --kustomize DIR]...   (--print DIR, --canon FILE)");
  process.exit(2);
}
for (const input of inputs) {
  let objs;
  if (input.dir) {
    try {
      objs = kustomize(input.dir).map(({ obj, from }) => ({ obj, what: `${input.dir}: ${path.basename(from)}` }));
      console.log(`ok    ${input.dir}: rendered, ${objs.length} objects`);
      passed++;
    } catch (e) {
      console.log(`FAIL  ${input.dir}: kustomize: ${e.message}`);
      failed++;
      continue;
    }
  } else {
    const f = input.file;
    objs = [];
    for (const [n, doc] of parseAllDocuments(fs.readFileSync(f, "utf8")).entries()) {
      const what = `${path.basename(f)}#${n}`;
      if (doc.errors.length) {
        console.log(`FAIL  ${what}: YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
        failed++;
        continue;
      }
      objs.push({ obj: doc.toJS(), what, f });
    }
  }
  for (const { obj, what, f } of objs) {
    if (obj === null) continue;
    const key = `${obj.apiVersion}/${obj.kind}`;
    const label = `${what} ${obj.kind}/${obj.metadata?.name}`;
    if (key === "kustomize.config.k8s.io/v1beta1/Kustomization" && f) {
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
