#include "web/web_config.h"

#include <yaml.h>

#include <memory>
#include <set>

#include "host/file_reader.h"
#include "web/tls.h"

namespace epc {
namespace {

// A YAML document as a small tree. libyaml's event parser is iterative (no recursion on nesting), and the tree
// is built with an explicit stack, so deep or hostile input costs bounded stack; aliases are refused (no
// "billion laughs"), nesting and node counts are capped.
struct Node {
  enum class Kind { kScalar, kMap, kSeq } kind = Kind::kScalar;
  std::string scalar;
  bool plain = false;  // unquoted scalar (null, true, false are only keywords when plain)
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> map;
  std::vector<std::unique_ptr<Node>> seq;
  std::size_t line = 0;

  bool is_null() const { return kind == Kind::kScalar && plain && (scalar.empty() || scalar == "~" || scalar == "null"); }
};

constexpr std::size_t kMaxDepth = 8;
constexpr std::size_t kMaxNodes = 4096;

std::string where(std::size_t line) { return "line " + std::to_string(line + 1); }

Result<std::unique_ptr<Node>> parse_yaml(std::string_view text) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return make_error("cannot initialise the YAML parser");
  struct Guard {
    yaml_parser_t* p;
    ~Guard() { yaml_parser_delete(p); }
  } guard{&parser};
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());

  std::unique_ptr<Node> root;
  // Open collections; for a map, the pending key (set when a key scalar was read and its value is awaited).
  struct Open {
    Node* node;
    std::optional<std::string> key;
  };
  std::vector<Open> stack;
  std::size_t nodes = 0;
  int documents = 0;

  // Attaches a finished node to its parent (or makes it the root).
  auto attach = [&](std::unique_ptr<Node> n) -> Status {
    if (++nodes > kMaxNodes) return make_error("too many YAML nodes (more than " + std::to_string(kMaxNodes) + ")");
    if (stack.empty()) {
      root = std::move(n);
      return {};
    }
    Open& top = stack.back();
    if (top.node->kind == Node::Kind::kSeq) {
      top.node->seq.push_back(std::move(n));
      return {};
    }
    if (!top.key) {
      if (n->kind != Node::Kind::kScalar) return make_error(where(n->line) + ": a mapping key must be a plain string");
      for (const auto& [k, v] : top.node->map)
        if (k == n->scalar) return make_error(where(n->line) + ": duplicate key '" + n->scalar + "'");
      top.key = n->scalar;
      return {};
    }
    top.node->map.emplace_back(std::move(*top.key), std::move(n));
    top.key.reset();
    return {};
  };

  for (;;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&parser, &ev)) {
      std::string msg = parser.problem ? parser.problem : "syntax error";
      return make_error("YAML " + where(parser.problem_mark.line) + ": " + msg);
    }
    struct EventGuard {
      yaml_event_t* e;
      ~EventGuard() { yaml_event_delete(e); }
    } eg{&ev};
    const std::size_t line = ev.start_mark.line;
    switch (ev.type) {
      case YAML_STREAM_START_EVENT:
      case YAML_DOCUMENT_END_EVENT:
        break;
      case YAML_DOCUMENT_START_EVENT:
        if (++documents > 1) return make_error(where(line) + ": more than one YAML document");
        break;
      case YAML_STREAM_END_EVENT:
        if (!root) {
          root = std::make_unique<Node>();
          root->plain = true;  // no document at all: null
        }
        return root;
      case YAML_ALIAS_EVENT:
        return make_error(where(line) + ": YAML aliases are not supported");
      case YAML_SCALAR_EVENT: {
        auto n = std::make_unique<Node>();
        n->scalar.assign(reinterpret_cast<const char*>(ev.data.scalar.value), ev.data.scalar.length);
        n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n->line = line;
        if (auto s = attach(std::move(n)); !s) return s.error();
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        if (stack.size() >= kMaxDepth) return make_error(where(line) + ": YAML nested too deeply");
        auto n = std::make_unique<Node>();
        n->kind = ev.type == YAML_SEQUENCE_START_EVENT ? Node::Kind::kSeq : Node::Kind::kMap;
        n->line = line;
        Node* raw = n.get();
        // Attach first (the parent owns it), then fill it through the stack.
        if (auto s = attach(std::move(n)); !s) return s.error();
        stack.push_back({raw, std::nullopt});
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        if (stack.empty()) return make_error(where(line) + ": unbalanced YAML collection");
        stack.pop_back();
        break;
      case YAML_NO_EVENT:
        return make_error(where(line) + ": unexpected end of YAML");
    }
  }
}

Result<std::string> scalar(const Node& n, const std::string& key) {
  if (n.kind != Node::Kind::kScalar) return make_error(where(n.line) + ": " + key + " must be a string");
  return n.scalar;
}

Result<bool> boolean(const Node& n, const std::string& key) {
  if (n.kind == Node::Kind::kScalar && n.plain) {
    if (n.scalar == "true" || n.scalar == "True" || n.scalar == "TRUE") return true;
    if (n.scalar == "false" || n.scalar == "False" || n.scalar == "FALSE") return false;
  }
  return make_error(where(n.line) + ": " + key + " must be true or false");
}

Error unknown_key(const Node& parent, const std::string& section, const std::string& key) {
  return make_error(where(parent.line) + ": unknown key '" + key + "' in " + section);
}

Error unsupported(const Node& n, const std::string& key, const std::string& why) {
  return make_error(where(n.line) + ": " + key + " is not supported by epc_exporter (" + why + ")");
}

Result<int> tls_version(const Node& n, const std::string& key) {
  auto s = scalar(n, key);
  if (!s) return s.error();
  if (*s == "TLS10") return 0x0301;
  if (*s == "TLS11") return 0x0302;
  if (*s == "TLS12") return 0x0303;
  if (*s == "TLS13") return 0x0304;
  return make_error(where(n.line) + ": " + key + ": '" + *s + "' is not one of TLS10, TLS11, TLS12, TLS13");
}

std::string resolve(const std::string& file, const std::filesystem::path& base_dir) {
  if (file.empty() || base_dir.empty() || std::filesystem::path(file).is_absolute()) return file;
  return (base_dir / file).string();
}

Status parse_tls(const Node& n, const std::filesystem::path& base_dir, TlsConfig& tls) {
  if (n.kind != Node::Kind::kMap) return make_error(where(n.line) + ": tls_server_config must be a mapping");
  bool ca_set = false, auth_set = false;
  for (const auto& [key, v] : n.map) {
    if (v->is_null()) continue;  // "key:" with no value means unset, as in the toolkit
    if (key == "cert_file" || key == "key_file" || key == "client_ca_file") {
      auto s = scalar(*v, key);
      if (!s) return s.error();
      if (s->find('\0') != std::string::npos) return make_error(where(v->line) + ": " + key + " contains a NUL byte");
      std::string path = resolve(*s, base_dir);
      if (key == "cert_file") tls.cert_file = path;
      else if (key == "key_file") tls.key_file = path;
      else {
        tls.client_ca_file = path;
        ca_set = !s->empty();
      }
    } else if (key == "client_auth_type") {
      auto s = scalar(*v, key);
      if (!s) return s.error();
      auth_set = true;
      if (*s == "NoClientCert" || s->empty()) tls.client_auth = TlsConfig::ClientAuth::kNone;
      else if (*s == "VerifyClientCertIfGiven") tls.client_auth = TlsConfig::ClientAuth::kVerifyIfGiven;
      else if (*s == "RequireAndVerifyClientCert") tls.client_auth = TlsConfig::ClientAuth::kRequireAndVerify;
      else if (*s == "RequestClientCert" || *s == "RequireAnyClientCert")
        return unsupported(*v, "client_auth_type " + *s, "a client certificate that is not verified proves nothing");
      else
        return make_error(where(v->line) + ": client_auth_type: '" + *s +
                          "' is not one of NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert");
    } else if (key == "min_version" || key == "max_version") {
      auto ver = tls_version(*v, key);
      if (!ver) return ver.error();
      (key == "min_version" ? tls.min_version : tls.max_version) = *ver;
    } else if (key == "prefer_server_cipher_suites") {
      auto b = boolean(*v, key);  // the server's order is always preferred here
      if (!b) return b.error();
    } else if (key == "cipher_suites" || key == "curve_preferences") {
      return unsupported(*v, key, "OpenSSL's defaults are used; Go cipher and curve names do not map one to one");
    } else if (key == "client_allowed_sans") {
      return unsupported(*v, key, "restrict clients with client_ca_file instead");
    } else if (key == "cert" || key == "key") {
      return unsupported(*v, key, "inline PEM; use cert_file and key_file");
    } else {
      return unknown_key(n, "tls_server_config", key);
    }
  }
  if (tls.cert_file.empty()) return make_error(where(n.line) + ": tls_server_config: cert_file is required");
  if (tls.key_file.empty()) return make_error(where(n.line) + ": tls_server_config: key_file is required");
  if (ca_set && auth_set && tls.client_auth == TlsConfig::ClientAuth::kNone)
    return make_error(where(n.line) + ": tls_server_config: client_ca_file is set but client_auth_type is NoClientCert");
  if (ca_set && !auth_set) tls.client_auth = TlsConfig::ClientAuth::kRequireAndVerify;  // the toolkit's default then
  if (tls.client_auth != TlsConfig::ClientAuth::kNone && !ca_set)
    return make_error(where(n.line) + ": tls_server_config: client_auth_type needs client_ca_file");
  if (tls.max_version != 0 && tls.max_version < tls.min_version)
    return make_error(where(n.line) + ": tls_server_config: max_version is lower than min_version");
  return {};
}

// The toolkit only lets these be set (web/handler.go extraHTTPHeaders).
const std::set<std::string>& allowed_headers() {
  static const std::set<std::string> h = {"Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options",
                                          "X-XSS-Protection", "Content-Security-Policy"};
  return h;
}

Status parse_http(const Node& n, WebConfig& cfg) {
  if (n.kind != Node::Kind::kMap) return make_error(where(n.line) + ": http_server_config must be a mapping");
  for (const auto& [key, v] : n.map) {
    if (v->is_null()) continue;
    if (key == "http2") {
      auto b = boolean(*v, key);  // the server speaks HTTP/1.1; HTTP/2 is an optimisation a client falls back from
      if (!b) return b.error();
    } else if (key == "headers") {
      if (v->kind != Node::Kind::kMap) return make_error(where(v->line) + ": headers must be a mapping");
      for (const auto& [h, hv] : v->map) {
        if (!allowed_headers().count(h))
          return make_error(where(hv->line) + ": header '" + h +
                            "' cannot be set (allowed: Strict-Transport-Security, X-Content-Type-Options, "
                            "X-Frame-Options, X-XSS-Protection, Content-Security-Policy)");
        auto s = scalar(*hv, h);
        if (!s) return s.error();
        for (char c : *s)
          if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return make_error(where(hv->line) + ": header '" + h + "' has a control character in its value");
        cfg.headers.emplace_back(h, *s);
      }
    } else {
      return unknown_key(n, "http_server_config", key);
    }
  }
  return {};
}

bool bcrypt_b64(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '/';
}

}  // namespace

Status check_bcrypt_hash(std::string_view h) {
  if (h.size() != 60 || h[0] != '$' || h[1] != '2' || (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') || h[3] != '$' ||
      h[6] != '$')
    return make_error("not a bcrypt hash (expected $2a$, $2b$ or $2y$, a cost and 53 characters, 60 in all)");
  if (h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9') return make_error("bcrypt cost is not two digits");
  int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > kMaxBcryptCost)
    return make_error("bcrypt cost " + std::to_string(cost) + " is outside 4.." + std::to_string(kMaxBcryptCost));
  for (std::size_t i = 7; i < h.size(); ++i)
    if (!bcrypt_b64(h[i])) return make_error("bcrypt hash has a character outside its alphabet");
  return {};
}

Result<WebConfig> parse_web_config(std::string_view text, const std::filesystem::path& base_dir) {
  if (text.size() > kWebConfigMaxBytes)
    return make_error("web config larger than " + std::to_string(kWebConfigMaxBytes) + " bytes");
  auto doc = parse_yaml(text);
  if (!doc) return doc.error();
  WebConfig cfg;
  const Node& root = **doc;
  if (root.is_null()) return cfg;  // an empty file: plain HTTP, no authentication
  if (root.kind != Node::Kind::kMap) return make_error("web config must be a YAML mapping");
  for (const auto& [key, v] : root.map) {
    if (v->is_null()) continue;
    if (key == "tls_server_config") {
      TlsConfig tls;
      if (auto s = parse_tls(*v, base_dir, tls); !s) return s.error();
      cfg.tls = std::move(tls);
    } else if (key == "http_server_config") {
      if (auto s = parse_http(*v, cfg); !s) return s.error();
    } else if (key == "basic_auth_users") {
      if (v->kind != Node::Kind::kMap) return make_error(where(v->line) + ": basic_auth_users must be a mapping");
      for (const auto& [user, hash] : v->map) {
        if (user.empty()) return make_error(where(hash->line) + ": basic_auth_users: empty user name");
        if (user.find(':') != std::string::npos)
          return make_error(where(hash->line) + ": basic_auth_users: user '" + user + "' contains ':'");
        auto h = scalar(*hash, "basic_auth_users." + user);
        if (!h) return h.error();
        if (auto s = check_bcrypt_hash(*h); !s)
          return make_error(where(hash->line) + ": basic_auth_users: user '" + user + "': " + s.error().message);
        cfg.basic_auth_users[user] = *h;
      }
    } else {
      return unknown_key(root, "the web config", key);
    }
  }
  return cfg;
}

Result<WebConfig> load_web_config(const std::filesystem::path& path) {
  auto text = read_file(path, kWebConfigMaxBytes);
  if (!text) return make_error("--web.config.file: " + text.error().message, text.error().errno_value);
  auto cfg = parse_web_config(*text, path.parent_path());
  if (!cfg) return make_error("--web.config.file " + path.string() + ": " + cfg.error().message);
  if (cfg->tls) {
    if (auto s = check_tls_config(*cfg->tls); !s)
      return make_error("--web.config.file " + path.string() + ": " + s.error().message);
  }
  return cfg;
}

}  // namespace epc
