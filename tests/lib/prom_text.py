"""The Prometheus text format (0.0.4) for the Python tests: the one parser, and the check every scrape goes through.

    parse(text)        -> Exposition: families in page order with their samples; ParseError names the line at fault
    problems(expo)     -> what Prometheus would silently get wrong in a page that parses (check_exposition's rules)
    check(text, what)  -> the Exposition; raises ExpositionError (a ValueError) listing every problem

The rules (tests/lib/exposition_check.h has the same ones for the C++ unit tests):
  - a series is written once: no two samples with the same name and label set, compared as written and with
    empty-valued labels dropped (Prometheus stores {a="",b="x"} as {b="x"}, so those two are one series there and
    it keeps one of them: the other's value is lost without an error);
  - every series of a family carries the same label names (client_golang's rule: a family's descriptor fixes them;
    a label without a value is written as ""); `le` of a histogram's buckets and `quantile` of a summary's
    quantiles are the family's structure, not labels;
  - no label name twice in one series, no family declared twice, a family's samples together.

Usable as a command too: `prom_text.py [FILE ...]` checks each file (or stdin with none or "-") and exits 1 with the
problems, 0 when clean, for the shell tests.
"""
import re
import sys

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Go's strconv.ParseFloat as the text format allows it (no '_' separators, no hex, no Python-only spellings).
_VALUE = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|Inf|inf|NaN|nan)")
_TIMESTAMP = re.compile(r"-?[0-9]+")
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
_STRUCTURAL = {"histogram": "le", "summary": "quantile"}


class ParseError(ValueError):
    """A line that is not the text format; .line is 1-based."""

    def __init__(self, line, message):
        super().__init__(f"line {line}: {message}")
        self.line = line


class ExpositionError(ValueError):
    """A page that parses but breaks check()'s rules; .problems lists them."""

    def __init__(self, what, problems):
        shown = "\n  ".join(problems[:20]) + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        super().__init__(f"{what}: {len(problems)} exposition problem(s):\n  {shown}")
        self.problems = problems


class Sample:
    __slots__ = ("name", "labels", "value", "timestamp", "line")

    def __init__(self, name, labels, value, timestamp, line):
        self.name = name
        self.labels = labels  # tuple of (name, value) in page order
        self.value = value
        self.timestamp = timestamp
        self.line = line

    @property
    def label_dict(self):
        """The labels as Prometheus stores them: those with an empty value are absent."""
        return {k: v for k, v in self.labels if v != ""}

    def get(self, key, default=""):
        """The value of label key, "" when absent (as Prometheus: an empty label is an absent one)."""
        for k, v in self.labels:
            if k == key:
                return v
        return default

    def __repr__(self):
        inner = ",".join(f'{k}="{v}"' for k, v in self.labels)
        return f"{self.name}{{{inner}}} {self.value!r}"


class Family:
    __slots__ = ("name", "type", "help", "samples", "line")

    def __init__(self, name, line, type_="untyped", help_=None):
        self.name, self.line, self.type, self.help, self.samples = name, line, type_, help_, []

    def owns(self, sample_name):
        """Whether a sample of this name belongs to this family (the text format's suffix rules)."""
        if sample_name == self.name:
            return self.type != "histogram"
        if self.type == "histogram":
            return sample_name in (self.name + "_bucket", self.name + "_sum", self.name + "_count")
        if self.type == "summary":
            return sample_name in (self.name + "_sum", self.name + "_count")
        return False


class Exposition:
    """A parsed page: families in page order (dict by name), every sample in page order, and what the parser
    noticed about the page's structure (re-declared or scattered families) for problems()."""

    def __init__(self):
        self.families = {}
        self.samples = []
        self.structure = []

    def series(self, name):
        """[(labels dict, value)] of every sample called name, in page order; empty labels left out, as
        Prometheus stores them (a per-workload family writes namespace, pod, container and cgroup, "" where one
        does not apply)."""
        return [(s.label_dict, s.value) for s in self.samples if s.name == name]

    def by_name(self):
        """{sample name: [(labels dict, value)]}, empty labels left out as in series()."""
        out = {}
        for s in self.samples:
            out.setdefault(s.name, []).append((s.label_dict, s.value))
        return out

    def names(self):
        return {s.name for s in self.samples}

    def value(self, name, **labels):
        """The value of the one sample called name whose non-empty labels are exactly labels; None if there is
        none. Labels with empty values count as absent, as in Prometheus."""
        want = {k: v for k, v in labels.items() if v != ""}
        for s in self.samples:
            if s.name == name and {k: v for k, v in s.labels if v != ""} == want:
                return s.value
        return None

    def total(self, name):
        return sum(s.value for s in self.samples if s.name == name)


def _unescape(text, lineno, allowed):
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in allowed:
                raise ParseError(lineno, f"bad escape '\\{text[i + 1:i + 2]}'")
            out.append("\n" if text[i + 1] == "n" else text[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _parse_labels(line, i, lineno):
    """Parses '{a="b",c="d"}' starting at line[i] == '{'; (labels tuple, index after '}')."""
    labels = []
    i += 1
    while True:
        while i < len(line) and line[i] in " \t":
            i += 1
        if i < len(line) and line[i] == "}":
            return tuple(labels), i + 1
        m = _LABEL.match(line, i)
        if not m:
            raise ParseError(lineno, f"bad label name at column {i + 1}")
        name, i = m.group(0), m.end()
        while i < len(line) and line[i] in " \t":
            i += 1
        if i >= len(line) or line[i] != "=":
            raise ParseError(lineno, f"label {name}: '=' expected")
        i += 1
        while i < len(line) and line[i] in " \t":
            i += 1
        if i >= len(line) or line[i] != '"':
            raise ParseError(lineno, f"label {name}: '\"' expected")
        j, raw = i + 1, None
        while j < len(line):
            if line[j] == "\\":
                j += 2
                continue
            if line[j] == '"':
                raw = line[i + 1:j]
                break
            j += 1
        if raw is None:
            raise ParseError(lineno, f"label {name}: unterminated value")
        labels.append((name, _unescape(raw, lineno, '\\"n')))
        i = j + 1
        while i < len(line) and line[i] in " \t":
            i += 1
        if i < len(line) and line[i] == ",":
            i += 1
        elif i < len(line) and line[i] == "}":
            return tuple(labels), i + 1
        else:
            raise ParseError(lineno, f"label {name}: ',' or '}}' expected")


def parse(text):
    """The page as an Exposition; ParseError on the first line that is not the text format."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    expo = Exposition()
    current = None
    finished = set()  # families whose samples ended (another family followed)

    def declare(name, lineno):
        nonlocal current
        fam = expo.families.get(name)
        if fam is None:
            fam = expo.families[name] = Family(name, lineno)
        elif fam is not current:
            expo.structure.append(f"line {lineno}: family {name} declared again (first at line {fam.line})")
        if current is not None and current is not fam:
            finished.add(current.name)
        current = fam
        return fam

    for lineno, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        stripped = line.strip(" \t")
        if not stripped:
            continue
        if stripped.startswith("#"):
            parts = stripped[1:].strip(" \t").split(None, 2)
            if len(parts) >= 2 and parts[0] in ("HELP", "TYPE"):
                if not _NAME.fullmatch(parts[1]):
                    raise ParseError(lineno, f"bad metric name '{parts[1]}' in # {parts[0]}")
                fam = expo.families.get(parts[1])
                if fam is None or fam is not current or fam.samples:
                    fam = declare(parts[1], lineno)
                rest = parts[2] if len(parts) > 2 else ""
                if parts[0] == "TYPE":
                    if rest not in _TYPES:
                        raise ParseError(lineno, f"unknown type '{rest}' for {parts[1]}")
                    if fam.type != "untyped" and fam.type != rest:
                        expo.structure.append(f"line {lineno}: family {parts[1]} typed twice")
                    fam.type = rest
                else:
                    fam.help = _unescape(rest, lineno, "\\n")
            continue
        m = _NAME.match(line, len(line) - len(line.lstrip(" \t")))
        if not m:
            raise ParseError(lineno, "metric name expected")
        name, i = m.group(0), m.end()
        labels = ()
        if i < len(line) and line[i] == "{":
            labels, i = _parse_labels(line, i, lineno)
        rest = line[i:].split()
        if not rest or len(rest) > 2 or (i < len(line) and line[i] not in " \t"):
            raise ParseError(lineno, f"{name}: value (and optional timestamp) expected")
        if not _VALUE.fullmatch(rest[0]):
            raise ParseError(lineno, f"{name}: bad value '{rest[0]}'")
        ts = None
        if len(rest) == 2:
            if not _TIMESTAMP.fullmatch(rest[1]):
                raise ParseError(lineno, f"{name}: bad timestamp '{rest[1]}'")
            ts = int(rest[1])
        value = float(rest[0])
        if current is None or not current.owns(name):
            owner = next((f for f in expo.families.values() if f.owns(name)), None)
            fam_name = owner.name if owner else name
            if fam_name in finished or (owner is not None and owner is not current and owner.samples):
                expo.structure.append(f"line {lineno}: samples of family {fam_name} are not together")
            if owner is None:
                owner = expo.families[name] = Family(name, lineno)
            if current is not None and current is not owner:
                finished.add(current.name)
            current = owner
        s = Sample(name, labels, value, ts, lineno)
        current.samples.append(s)
        expo.samples.append(s)
    return expo


def problems(expo):
    """What breaks the rules in the module comment, one line each with the page's line numbers."""
    out = list(expo.structure)
    for fam in expo.families.values():
        structural = _STRUCTURAL.get(fam.type)
        shapes = {}  # label names -> (first line, series count)
        seen, seen_nonempty = {}, {}
        for s in fam.samples:
            names = [k for k, _ in s.labels]
            if len(set(names)) != len(names):
                out.append(f"line {s.line}: {s!r}: a label name twice")
            shape = tuple(sorted(k for k in names if not (k == structural and (
                fam.type == "summary" and s.name == fam.name or s.name == fam.name + "_bucket"))))
            first, n = shapes.get(shape, (s.line, 0))
            shapes[shape] = (first, n + 1)
            key = (s.name, frozenset(s.labels))
            if key in seen:
                out.append(f"line {s.line}: {s!r}: duplicate of line {seen[key]}")
                continue
            seen[key] = s.line
            key = (s.name, frozenset((k, v) for k, v in s.labels if v != ""))
            if key in seen_nonempty:
                out.append(f"line {s.line}: {s!r}: the same series as line {seen_nonempty[key]} once empty labels "
                           "are dropped (Prometheus keeps one of them)")
            else:
                seen_nonempty[key] = s.line
        if len(shapes) > 1:
            out.append(f"family {fam.name}: its series carry {len(shapes)} different sets of label names: " +
                       ", ".join(f"{{{','.join(k)}}} ({n} series from line {line})"
                                 for k, (line, n) in sorted(shapes.items(), key=lambda kv: kv[1][0])))
    return out


def check(text, what="scrape"):
    """Parses text and applies problems(); the Exposition, or ExpositionError (ParseError for a page that does
    not parse). what names the page in the message (a URL, a file)."""
    expo = parse(text)
    found = problems(expo)
    if found:
        raise ExpositionError(what, found)
    return expo


def main(argv):
    bad = 0
    for path in argv or ["-"]:
        try:
            text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
            expo = check(text, "stdin" if path == "-" else path)
            print(f"ok: {'stdin' if path == '-' else path}: {len(expo.samples)} series in {len(expo.families)} "
                  "families, no duplicate series, label names consistent per family")
        except (ValueError, OSError) as e:
            print(f"FAIL: {path}: {e}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
