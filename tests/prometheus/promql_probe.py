"""Small PromQL helpers for the live-Prometheus test (no full parser: enough for the project's own queries).

metric_names(expr)   -> the metric names a query selects (not functions, keywords, label names or durations).
data_probes(expr)    -> queries that must each return data when the series `expr` reads exist, even when `expr`
                        itself is legitimately empty (an alert that is not firing): `absent(X)` -> X, top-level
                        `A and/or B` -> A and B, `A unless B` -> A (B is a filter and may be empty), every
                        comparison made a `bool` comparison.
substitute(expr, v)  -> Grafana variables ($node, ${pod}, $__rate_interval, ...) replaced.
"""
import re

AGGREGATORS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
               "topk", "quantile", "limitk", "limit_ratio"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = GROUPING | {"bool", "and", "or", "unless", "offset", "inf", "nan", "atan2", "start", "end"}
SET_OPS = {"and", "or", "unless"}
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
NUMBER = re.compile(r"(0x[0-9a-fA-F]+|[0-9][0-9a-zA-Z.]*|\.[0-9]+[0-9eE+-]*)")


class Tok:
    def __init__(self, kind, text, start, end, depth):
        self.kind, self.text, self.start, self.end, self.depth = kind, text, start, end, depth

    def __repr__(self):
        return f"Tok({self.kind},{self.text!r},{self.depth})"


def _skip_quoted(s, i):
    q = s[i]
    i += 1
    while i < len(s):
        if s[i] == "\\" and q != "`":
            i += 2
            continue
        if s[i] == q:
            return i + 1
        i += 1
    raise ValueError(f"unterminated string in {s!r}")


def tokens(s):
    """Tokens outside label matchers, strings and range brackets, with their parenthesis depth."""
    out, i, depth = [], 0, 0
    while i < len(s):
        c = s[i]
        if c.isspace():
            i += 1
        elif c in "\"'`":
            j = _skip_quoted(s, i)
            out.append(Tok("str", s[i:j], i, j, depth))
            i = j
        elif c in "{[":
            close = "}" if c == "{" else "]"
            j = i + 1
            while j < len(s) and s[j] != close:
                j = _skip_quoted(s, j) if s[j] in "\"'`" else j + 1
            if j >= len(s):
                raise ValueError(f"unbalanced {c} in {s!r}")
            out.append(Tok("braces" if c == "{" else "range", s[i:j + 1], i, j + 1, depth))
            i = j + 1
        elif c == "(":
            out.append(Tok("(", c, i, i + 1, depth))
            depth += 1
            i += 1
        elif c == ")":
            depth -= 1
            out.append(Tok(")", c, i, i + 1, depth))
            i += 1
        elif s.startswith(("==", "!=", ">=", "<="), i):
            out.append(Tok("cmp", s[i:i + 2], i, i + 2, depth))
            i += 2
        elif c in "<>":
            out.append(Tok("cmp", c, i, i + 1, depth))
            i += 1
        elif IDENT.match(s, i) and not c.isdigit():
            m = IDENT.match(s, i)
            out.append(Tok("ident", m.group(0), i, m.end(), depth))
            i = m.end()
        elif NUMBER.match(s, i):
            m = NUMBER.match(s, i)
            out.append(Tok("num", m.group(0), i, m.end(), depth))
            i = m.end()
        else:
            out.append(Tok("op", c, i, i + 1, depth))
            i += 1
    if depth != 0:
        raise ValueError(f"unbalanced parentheses in {s!r}")
    return out


def metric_names(expr):
    toks = tokens(expr)
    names, skip_until_depth = set(), None
    for k, t in enumerate(toks):
        if skip_until_depth is not None:
            if t.kind == ")" and t.depth == skip_until_depth:
                skip_until_depth = None
            continue
        if t.kind != "ident":
            continue
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        word = t.text
        if word in GROUPING and nxt is not None and nxt.kind == "(":
            skip_until_depth = nxt.depth  # skip the label list
            continue
        if word in KEYWORDS or word in AGGREGATORS:
            continue
        if nxt is not None and nxt.kind == "(":
            continue  # function call
        names.add(word)
    return names


def _split_set_ops(expr):
    """[(operator before the part or None, part)] at the top level of expr."""
    toks = tokens(expr)
    base = min((t.depth for t in toks), default=0)
    parts, start, op = [], 0, None
    k = 0
    while k < len(toks):
        t = toks[k]
        if t.kind == "ident" and t.text in SET_OPS and t.depth == base:
            parts.append((op, expr[start:t.start]))
            op = t.text
            k += 1
            # drop a following on(...)/ignoring(...) modifier
            if k < len(toks) and toks[k].kind == "ident" and toks[k].text in ("on", "ignoring"):
                k += 1
                if k < len(toks) and toks[k].kind == "(":
                    d = toks[k].depth
                    k += 1
                    while k < len(toks) and not (toks[k].kind == ")" and toks[k].depth == d):
                        k += 1
                    k += 1
            start = toks[k].start if k < len(toks) else len(expr)
            continue
        k += 1
    parts.append((op, expr[start:]))
    return [(o, p.strip()) for o, p in parts if p.strip()]


def _boolify(expr):
    toks = tokens(expr)
    out, last = [], 0
    for k, t in enumerate(toks):
        if t.kind == "cmp":
            nxt = toks[k + 1] if k + 1 < len(toks) else None
            if nxt is not None and nxt.kind == "ident" and nxt.text == "bool":
                continue
            out.append(expr[last:t.end] + " bool")
            last = t.end
    out.append(expr[last:])
    return "".join(out)


def _strip_outer_parens(expr):
    e = expr.strip()
    while e.startswith("(") and e.endswith(")"):
        toks = tokens(e)
        # the first "(" must close at the very end
        if toks[0].kind == "(" and all(not (t.kind == ")" and t.depth == 0) for t in toks[1:-1]):
            e = e[1:-1].strip()
        else:
            break
    return e


def data_probes(expr):
    e = _strip_outer_parens(expr)
    m = re.fullmatch(r"absent\s*\((.*)\)", e, re.S)
    if m:
        return data_probes(m.group(1))
    parts = _split_set_ops(e)
    if len(parts) > 1:
        # The right side of `unless` is a filter: empty is normal (nothing excluded), so it needs no data.
        return [p for op, part in parts if op != "unless" for p in data_probes(part)]
    return [_boolify(e)]


def substitute(expr, values):
    """values: variable name -> replacement text (regex for =~ matchers)."""
    def repl(m):
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"no value for Grafana variable ${name} in {expr!r}")
        return values[name]
    # $1, ${2}: regex group references in label_replace, left alone.
    return re.sub(r"\$\{([A-Za-z_]\w*)(?::\w+)?\}|\$([A-Za-z_]\w*)", repl, expr)
