"""Parse an lme4/brms-style mixed-model formula.

This stage only reads text: it splits the response, the fixed part and the random-effect bar
terms, and expands the grouping shorthands ``f/g`` (nested) and ``f*g`` (crossed with their
interaction). Evaluating anything on data is the job of :mod:`bayesmm.model.design`.

Examples
--------
>>> from bayesmm.model.formula import parse_formula
>>> parsed = parse_formula("Reaction ~ Days + (Days | Subject)")
>>> parsed.fixed
'1 + Days'
>>> [(t.effects, t.group, t.correlated) for t in parsed.random_terms]
[('1 + Days', 'Subject', True)]
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from ..errors import FormulaError, UnsupportedTermError, caret_message, suggest
from .autocorrelation import AR_CALL, ARTerm, parse_ar
from .covariance_structures import STRUCTURES
from .smooths import SMOOTH_CALL, SmoothTerm, parse_smooth

IDENTIFIER = re.compile(r"`[^`]+`|[A-Za-z_][A-Za-z0-9_.]*")
#: A grouping factor: column names joined by ':', '/' or '*'.
GROUP_EXPRESSION = re.compile(rf"(?:{IDENTIFIER.pattern})(?:\s*[:/*]\s*(?:{IDENTIFIER.pattern}))*")
#: Elementwise math functions a formula may call on either side of ``~`` (``log(t)``).
MATH_FUNCTIONS = ("log", "log2", "log10", "log1p", "exp", "expm1", "sqrt", "abs")

#: Functions formulae evaluates in a model matrix (its transforms and contrasts), plus ours.
KNOWN_FUNCTIONS = frozenset(
    {
        *MATH_FUNCTIONS,
        "C", "I", "S", "T", "B", "binary", "Treatment", "Sum",
        "center", "scale", "standardize", "poly", "bs", "cc", "cr", "tp",
    }
)  # fmt: skip

#: Calls we know from lme4/brms/glmmTMB/mgcv but do not support (yet): the parser refuses them
#: with "not supported (yet)" and names the term. Remove an entry when its support lands.
UNSUPPORTED_CALLS: dict[str, str] = {
    "ti": "tensor-product interaction smooth (ti())",
    "gp": "Gaussian-process term (gp())",
    "car": "conditional autoregressive term (brms car())",
    "sar": "simultaneous autoregressive term (brms sar())",
    "fcor": "fixed residual correlation (brms fcor())",
    "toep": "Toeplitz covariance structure (glmmTMB toep())",
    "ou": "Ornstein-Uhlenbeck covariance structure (glmmTMB ou())",
    "mat": "Matern covariance structure (glmmTMB mat())",
    "gau": "Gaussian covariance structure (glmmTMB gau())",
    "rr": "reduced-rank covariance structure (glmmTMB rr())",
    "propto": "proportional covariance structure (glmmTMB propto())",
    "hetar1": "heterogeneous AR(1) covariance structure (glmmTMB hetar1())",
    "mo": "monotonic effect (brms mo())",
    "me": "measurement-error term (brms me())",
    "mi": "missing-value imputation term (brms mi())",
    "mm": "multi-membership grouping (brms mm())",
    "gr": "grouping-factor options (brms gr())",
}

#: Addition terms after ``|`` in the response (brms) that we do not support (yet).
UNSUPPORTED_ADDITION_TERMS: dict[str, str] = {
    "rate": "an exposure rate",
    "subset": "a subset indicator",
    "dec": "a decision indicator",
    "cat": "the number of categories",
    "thres": "ordinal thresholds",
    "mi": "missing-value imputation",
    "vreal": "extra real data",
    "vint": "extra integer data",
    "index": "an index variable",
}

#: R and patsy spellings with a hint about how formulae (and so bayesmm) writes them.
FUNCTION_HINTS: dict[str, str] = {
    "factor": "formulae writes a factor as C({args}).",
    "as.factor": "formulae writes a factor as C({args}).",
    "ordered": "formulae writes a factor as C({args}).",
    "as.numeric": "Convert the column in pandas first (df['{args}'].astype(float)).",
    "relevel": "Set the reference level with C({args}, Treatment('level')).",
    "ns": "Natural splines are cr({args}) in formulae.",
    "cbind": "cbind(successes, failures) belongs on the left of '~'.",
    "trials": "trials(n) belongs on the left of '~': successes | trials(n) ~ ...",
}

#: Names that may appear in formulas as functions or modules rather than columns.
NON_COLUMN_NAMES = frozenset({"np", "numpy", "C", "I", "scale", "center", "log", "exp", "sqrt"})
#: ``ar1(0 + t | g)``: a covariance structure's name around a bar term.
STRUCTURE_CALL = re.compile(rf"^({'|'.join(STRUCTURES)})\s*\(")

#: brms's ``(effects |ID| group)``: what follows the first bar is an identifier, a bar and the
#: grouping factor.
BRMS_ID = re.compile(r"\s*([A-Za-z.][A-Za-z0-9._]*)\s*\|\s*(\S.*?)\s*")


#: Addition terms after the bar of the response (brms), each with its argument names in order.
ADDITION_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "trials": ("n",),
    "weights": ("w",),
    "cens": ("c", "y2"),
    "trunc": ("lb", "ub"),
    "se": ("s", "sigma"),
}


@dataclass(frozen=True)
class AdditionTerm:
    """One brms addition term on the response side, e.g. ``cens(c, y2)``.

    Attributes
    ----------
    name : str
        ``"trials"``, ``"weights"``, ``"cens"``, ``"trunc"`` or ``"se"``.
    arguments : tuple of (str, str)
        (argument name, expression) pairs, positional arguments named by
        :data:`ADDITION_ARGUMENTS` (``(("lb", "0"),)`` for ``trunc(lb = 0)``).
    """

    name: str
    arguments: tuple[tuple[str, str], ...]

    def get(self, argument: str, default: str = "") -> str:
        """The expression given for ``argument`` (``default`` when absent)."""
        return dict(self.arguments).get(argument, default)

    @property
    def text(self) -> str:
        """The term as written back, e.g. ``trunc(lb = 0)``."""
        positional = {"trunc": (), "cens": ("c", "y2")}.get(
            self.name, ADDITION_ARGUMENTS[self.name][:1]
        )
        parts = [v if k in positional else f"{k} = {v}" for k, v in self.arguments]
        return f"{self.name}({', '.join(parts)})"


@dataclass(frozen=True)
class Response:
    """The left-hand side of a formula.

    Attributes
    ----------
    kind : str
        ``"plain"`` (one expression), ``"cbind"`` (lme4's ``cbind(successes, failures)``) or
        ``"trials"`` (brms's ``successes | trials(n)``).
    expression : str
        The plain response, or the successes for the two binomial forms.
    second : str
        The failures (``cbind``) or the number of trials (``trials``); empty for ``plain``.
    """

    kind: str
    expression: str
    second: str = ""
    additions: tuple[AdditionTerm, ...] = ()

    def addition(self, name: str) -> AdditionTerm | None:
        """The addition term ``name`` (``"weights"``, ``"cens"``, ...), or None."""
        for term in self.additions:
            if term.name == name:
                return term
        return None

    @property
    def label(self) -> str:
        """The response as the user wrote it, for summaries."""
        if self.kind == "cbind":
            base = f"cbind({self.expression}, {self.second})"
        elif self.kind == "trials":
            base = f"{self.expression} | trials({self.second})"
        else:
            base = self.expression
        others = [term.text for term in self.additions if term.name != "trials"]
        if others:
            base += (" + " if self.kind == "trials" else " | ") + " + ".join(others)
        return base


@dataclass(frozen=True)
class RandomTerm:
    """One random-effect bar term after expansion, e.g. ``(1 + Days | Subject)``.

    Attributes
    ----------
    effects : str
        The left side of the bar with the intercept made explicit (``"1 + Days"``,
        ``"0 + Days"``).
    group : str
        The grouping factor as written after expansion (``"Subject"``, ``"batch:cask"``).
    correlated : bool
        ``True`` for ``|`` (one correlated block), ``False`` for ``||`` (independent effects).
    structure : str
        The covariance structure written around the bar (glmmTMB's ``us``, ``diag``, ``cs``,
        ``homcs``, ``homdiag``, ``ar1``; see :mod:`bayesmm.model.covariance_structures`);
        ``"us"`` for a plain ``(... | g)``.
    """

    effects: str
    group: str
    correlated: bool
    structure: str = "us"

    @property
    def text(self) -> str:
        """The term as lme4/glmmTMB would print it, e.g. ``(1 + Days | Subject)``,
        ``ar1(0 + time | Subject)``."""
        if self.structure == "smooth":  # the penalized part of s(x): effects holds "s(x)"
            return self.effects
        if self.structure != "us":
            return f"{self.structure}({self.effects} | {self.group})"
        bar = "|" if self.correlated else "||"
        return f"({self.effects} {bar} {self.group})"

    @property
    def group_factors(self) -> tuple[str, ...]:
        """The columns whose interaction defines the groups (``("batch", "cask")``)."""
        return tuple(part.strip() for part in self.group.split(":"))


@dataclass(frozen=True)
class ParsedFormula:
    """A formula split into its parts.

    Attributes
    ----------
    text : str
        The formula as given.
    response : Response
        The left-hand side.
    fixed : str
        The fixed (population-level) part with the intercept made explicit, e.g.
        ``"1 + Days"``; handed to formulae to build the design matrix.
    random_terms : tuple of RandomTerm
        One entry per bar term after expanding ``/`` and ``*`` in grouping factors.
    offsets : tuple of str
        The expressions of the ``offset(...)`` terms of the fixed part (``("np.log(t)",)``):
        added to the linear predictor with coefficient 1, never estimated.
    """

    text: str
    response: Response
    fixed: str
    random_terms: tuple[RandomTerm, ...]
    offsets: tuple[str, ...] = ()
    smooths: tuple[SmoothTerm, ...] = ()
    autocor: ARTerm | None = None

    @property
    def has_intercept(self) -> bool:
        """Whether the fixed part has an intercept."""
        return self.fixed.split("+")[0].strip() == "1"

    def variables(self) -> list[str]:
        """Every data column the formula refers to, in order of first appearance."""
        parts = [self.response.expression, self.response.second, self.fixed]
        parts.extend(term.effects for term in self.random_terms)
        for smooth in self.smooths:
            parts.extend([*smooth.variables, smooth.by])
        names = _names_in(parts)
        if self.autocor is not None:
            for name in (self.autocor.time, self.autocor.group):
                if name and name not in names:
                    names.append(name)
        for term in self.random_terms:  # plain names already (`my group` lost its backticks)
            for name in term.group_factors:
                if name not in names:
                    names.append(name)
        return names

    def addition_variables(self) -> list[str]:
        """Columns of the offsets and of the addition terms other than ``trials()``.

        They are checked, not dropped: a missing value there is an error naming the rows
        (a NaN offset or weight would silently change the model).
        """
        parts = list(self.offsets)
        for term in self.response.additions:
            if term.name == "trials":
                continue
            parts += [value for key, value in term.arguments if key != "sigma"]
        return _names_in(parts)


def _names_in(parts: list[str]) -> list[str]:
    """Column names referenced by any of ``parts``, in order of first appearance."""
    names: list[str] = []
    for part in parts:
        for name in referenced_names(part):
            if name not in names:
                names.append(name)
    return names


def referenced_names(expression: str) -> list[str]:
    """Names in ``expression`` that refer to data columns (not functions or modules).

    Examples
    --------
    >>> referenced_names("np.log(x) + scale(total.fruits) + a:b")
    ['x', 'total.fruits', 'a', 'b']
    """
    # string literals ("yes" in y == "yes", "b" in C(a, Treatment("b"))) are not names
    expression = re.sub(r"'[^']*'|\"[^\"]*\"", lambda m: " " * len(m.group(0)), expression)
    names: list[str] = []
    for match in IDENTIFIER.finditer(expression):
        name = match.group(0).strip("`")
        rest = expression[match.end() :].lstrip()
        if rest.startswith("(") or name in NON_COLUMN_NAMES or name.startswith(("np.", "numpy.")):
            continue
        if rest.startswith("=") and not rest.startswith("=="):
            continue  # a keyword argument such as levels=
        if match.start() > 0 and expression[match.start() - 1] in "0123456789":
            continue  # part of a number like 1e5
        if name not in names:
            names.append(name)
    return names


def _check_parentheses(text: str) -> None:
    stack: list[int] = []
    for i, char in enumerate(text):
        if char == "(":
            stack.append(i)
        elif char == ")":
            if not stack:
                raise FormulaError(
                    caret_message(text, i, "Unmatched ')' in formula", "Remove it or add '('.")
                )
            stack.pop()
    if stack:
        raise FormulaError(
            caret_message(text, stack[-1], "This '(' is never closed", "Add the missing ')'.")
        )


def _split_top_level(text: str, separators: str) -> list[tuple[str, int, str]]:
    """Split ``text`` at single-character separators outside parentheses.

    Returns (separator before the piece, start offset, piece) triples; the first separator is
    ``""``.
    """
    pieces: list[tuple[str, int, str]] = []
    depth = 0
    start = 0
    sep = ""
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and char in separators:
            pieces.append((sep, start, text[start:i]))
            sep, start = char, i + 1
    pieces.append((sep, start, text[start:]))
    return pieces


def _find_top_level(text: str, token: str) -> int:
    depth = 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and text.startswith(token, i):
            return i
    return -1


def _closing_paren(text: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def expand_group(group: str) -> list[str]:
    """Expand ``/`` (nesting) and ``*`` (crossing) in a grouping expression.

    Examples
    --------
    >>> expand_group("batch/cask")
    ['batch', 'batch:cask']
    >>> expand_group("f*g")
    ['f', 'g', 'f:g']
    """
    # drop whitespace outside backticks (`my group` keeps its space), then the backticks
    group = "".join(
        piece if piece.startswith("`") else re.sub(r"\s+", "", piece)
        for piece in re.split(r"(`[^`]*`)", group)
    ).replace("`", "")
    if "/" in group and "*" in group:
        raise FormulaError(
            f"Grouping factor '{group}' mixes '/' and '*'; write the terms out, e.g. "
            "(1 | f) + (1 | f:g) + ..."
        )
    if "/" in group:
        parts = group.split("/")
        return [":".join(parts[: i + 1]) for i in range(len(parts))]
    if "*" in group:
        parts = group.split("*")
        return [
            ":".join(combo)
            for size in range(1, len(parts) + 1)
            for combo in itertools.combinations(parts, size)
        ]
    return [group]


def _normalise_effects(effects: str) -> str:
    """Make the intercept of a bar's left side explicit: ``Days`` -> ``1 + Days``."""
    pieces = [(sep, piece.strip()) for sep, _, piece in _split_top_level(effects, "+-")]
    if pieces and not pieces[0][1] and effects.lstrip().startswith("-"):
        pieces = pieces[1:]  # a leading '-1' splits into an empty first piece
    intercept = True
    terms: list[str] = []
    for sep, piece in pieces:
        if piece == "1" and sep != "-":
            intercept = True
        elif piece == "0" or (piece == "1" and sep == "-"):
            intercept = False
        else:
            terms.append(piece if sep != "-" else f"- {piece}")
    head = "1" if intercept else "0"
    return " + ".join([head, *terms]).replace("+ -", "-")


def _parse_addition(piece: str, text: str, at: int) -> AdditionTerm:
    """One addition term such as ``cens(c, y2)`` or ``trunc(lb = 0)``."""
    match = re.fullmatch(r"([A-Za-z_]+)\s*\((.*)\)", piece.strip(), flags=re.S)
    known = ", ".join(f"{name}()" for name in ADDITION_ARGUMENTS)
    if not match:
        raise FormulaError(
            caret_message(
                text,
                at,
                "A '|' in the response must be followed by addition terms",
                f"Write e.g. y | weights(w) ~ x or s | trials(n) ~ x (known terms: {known}).",
            )
        )
    name, inner = match.group(1), match.group(2)
    if name == "mi":
        raise FormulaError(
            caret_message(
                text,
                at,
                "mi() (imputing a missing response) is not supported",
                "Rows with a missing response are dropped with a warning; drop mi().",
            )
        )
    if name in UNSUPPORTED_ADDITION_TERMS:
        raise UnsupportedTermError(
            caret_message(
                text,
                at,
                f"The addition term '{piece.strip()}' ({UNSUPPORTED_ADDITION_TERMS[name]}) is "
                "not supported (yet)",
                f"Supported after '|': {known}.",
            )
        )
    if name not in ADDITION_ARGUMENTS:
        raise FormulaError(
            caret_message(
                text,
                at,
                f"Unknown addition term '{name}()'{suggest(name, ADDITION_ARGUMENTS)}",
                f"Known terms: {known}.",
            )
        )
    names = ADDITION_ARGUMENTS[name]
    arguments: list[tuple[str, str]] = []
    pieces = [p.strip() for _, _, p in _split_top_level(inner, ",")] if inner.strip() else []
    for position, argument in enumerate(pieces):
        keyword = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)\s*(.+)", argument, flags=re.S)
        if keyword:
            key, value = keyword.group(1), keyword.group(2).strip()
        elif position < len(names):
            key, value = names[position], argument
        else:
            key, value = "", argument
        if key not in names or not value or key in dict(arguments):
            raise FormulaError(
                caret_message(
                    text,
                    at,
                    f"Bad argument '{argument}' of {name}()",
                    f"{name}() takes {', '.join(names)}.",
                )
            )
        arguments.append((key, value))
    required = () if name == "trunc" else names[:1]
    if any(key not in dict(arguments) for key in required) or (name == "trunc" and not arguments):
        raise FormulaError(
            caret_message(
                text, at, f"{name}() needs {' or '.join(names) if name == 'trunc' else names[0]}"
            )
        )
    return AdditionTerm(name, tuple(arguments))


def _parse_response(lhs: str, text: str, offset: int) -> Response:
    lhs_stripped = lhs.strip()
    if not lhs_stripped:
        raise FormulaError(
            caret_message(text, offset, "The formula has no response before '~'", "Write y ~ ...")
        )
    bar = _find_top_level(lhs_stripped, "|")
    additions: tuple[AdditionTerm, ...] = ()
    if bar >= 0:
        successes = lhs_stripped[:bar].strip()
        right = lhs_stripped[bar + 1 :]
        bar_at = offset + lhs.index("|")
        if not successes or not right.strip():
            raise FormulaError(
                caret_message(
                    text,
                    bar_at,
                    "A '|' in the response must read 'response | addition terms'",
                    "For binomial data write e.g. incidence | trials(size); for weights "
                    "y | weights(w).",
                )
            )
        terms = []
        for _, start, piece in _split_top_level(right, "+"):
            at = bar_at + 1 + start + len(piece) - len(piece.lstrip())
            term = _parse_addition(piece, text, at)
            if any(t.name == term.name for t in terms):
                raise FormulaError(caret_message(text, at, f"{term.name}() is given twice"))
            terms.append(term)
        additions = tuple(terms)
        lhs_stripped = successes
        check_term_syntax(successes, text, offset + len(lhs) - len(lhs.lstrip()))
        trials = next((t for t in additions if t.name == "trials"), None)
        if trials is not None:
            return Response("trials", successes, trials.get("n"), additions)
    match = re.fullmatch(r"cbind\s*\((.*)\)", lhs_stripped)
    if match:
        args = [piece.strip() for _, _, piece in _split_top_level(match.group(1), ",")]
        if len(args) != 2 or not all(args):
            raise FormulaError(
                caret_message(
                    text,
                    offset + lhs.index("cbind"),
                    "cbind() takes exactly two arguments",
                    "Write cbind(successes, failures), e.g. cbind(incidence, size - incidence).",
                )
            )
        inner_at = offset + lhs.index("cbind") + lhs[lhs.index("cbind") :].index("(") + 1
        for _, start, piece in _split_top_level(match.group(1), ","):
            check_term_syntax(piece, text, inner_at + start)
        return Response("cbind", args[0], args[1], additions)
    if not additions:
        check_term_syntax(lhs, text, offset)
    return Response("plain", lhs_stripped, "", additions)


_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_OPERATORS = "+-*/:^%=<>!&|~@"
#: patsy's ``Q('name with spaces')``: rewritten to formulae's backticks before parsing.
_QUOTED_NAME = re.compile(r"""(?<![\w.])Q\(\s*(['"])(.*?)\1\s*\)""")


def _matching_close(text: str, open_at: int) -> int:
    pairs = {"(": ")", "[": "]"}
    opening, closing = text[open_at], pairs[text[open_at]]
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return i
    return -1


def _check_call(name: str, args: str, call_text: str, text: str, at: int) -> None:
    """Refuse a call we do not support (yet) or do not know, naming it."""
    if name in UNSUPPORTED_CALLS:
        raise UnsupportedTermError(
            caret_message(
                text,
                at,
                f"'{call_text}' is not supported (yet): {UNSUPPORTED_CALLS[name]}",
                "Remove the term, or fit the model in brms/glmmTMB/mgcv for now.",
            )
        )
    if name in FUNCTION_HINTS:
        raise FormulaError(
            caret_message(
                text,
                at,
                f"Unknown function '{name}' in '{call_text}'",
                FUNCTION_HINTS[name].format(args=args.strip()),
            )
        )
    module, _, attribute = name.partition(".")
    if module in ("np", "numpy") and attribute:
        import numpy

        if callable(getattr(numpy, attribute, None)):
            return
        raise FormulaError(
            caret_message(text, at, f"numpy has no function '{attribute}' (in '{call_text}')")
        )
    if name == "Q":
        raise FormulaError(
            caret_message(
                text,
                at,
                f"Q() takes a quoted column name, got '{call_text}'",
                "Write Q('Reaction Time') or `Reaction Time`.",
            )
        )
    if name not in KNOWN_FUNCTIONS:
        raise FormulaError(
            caret_message(
                text,
                at,
                f"Unknown function '{name}' in '{call_text}'",
                f"Formulas can call {', '.join(sorted(KNOWN_FUNCTIONS, key=str.lower))} and "
                "numpy's functions as np.name(...).",
            )
        )


def check_term_syntax(term: str, text: str, offset: int) -> None:
    """Refuse a term that formulae would misread or report in its parser's words.

    Scans one term (a piece between top-level ``+``/``-``) for a ``,`` between terms, two
    operands with no operator between them (``Days Subject``, ``Days (1 | Subject)``), and calls
    that are unknown or not supported (yet), raising :class:`FormulaError` with a caret under the
    spot.

    Parameters
    ----------
    term : str
        The term's text.
    text : str
        The whole formula (for the caret message).
    offset : int
        Where ``term`` starts in ``text``.

    Examples
    --------
    >>> check_term_syntax("np.log(x):C(g)", "y ~ np.log(x):C(g)", 4)
    >>> try:
    ...     check_term_syntax("Days Subject", "y ~ Days Subject", 4)
    ... except FormulaError as err:
    ...     print(str(err).splitlines()[0])
    Missing operator between 'Days' and 'Subject':
    """
    previous = ""
    i = 0
    while i < len(term):
        char = term[i]
        at = offset + i
        if char.isspace():
            i += 1
            continue
        if char == ",":
            raise FormulaError(
                caret_message(
                    text, at, "A ',' cannot join terms", "Join terms with '+', e.g. Days + Subject."
                )
            )
        if char in "$;":
            raise FormulaError(
                caret_message(
                    text,
                    at,
                    f"Unexpected '{char}' in formula",
                    "Name columns directly (Days, not df$Days) and join terms with '+'.",
                )
            )
        if char in _OPERATORS:
            previous = ""
            i += 1
            continue
        if char in "`'\"":
            end = term.find(char, i + 1)
            if end < 0:
                raise FormulaError(
                    caret_message(
                        text, at, f"This {char} is never closed", f"Add the closing {char}."
                    )
                )
            token, following = term[i : end + 1], end + 1
        elif char in "([":
            close = _matching_close(term, i)
            if close < 0:
                raise FormulaError(caret_message(text, at, f"This '{char}' is never closed"))
            inner = term[i + 1 : close]
            token, following = term[i : close + 1], close + 1
            if char == "(" and _find_top_level(inner, "|") >= 0:
                problem = (
                    f"Missing '+' before the random-effect term {token}"
                    if previous
                    else f"The random-effect term {token} must stand on its own"
                )
                raise FormulaError(
                    caret_message(
                        text,
                        at,
                        problem,
                        f"Join it with '+': {previous or 'x'} + {token}.",
                    )
                )
            pieces = _split_top_level(inner, ",") if char == "[" else [("", 0, inner)]
            for _, start, piece in pieces:
                check_term_syntax(piece, text, at + 1 + start)
        elif _NUMBER.match(term, i):
            match = _NUMBER.match(term, i)
            token, following = match.group(0), match.end()
        elif _NAME.match(term, i):
            match = _NAME.match(term, i)
            name, following = match.group(0), match.end()
            paren = following
            while paren < len(term) and term[paren].isspace():
                paren += 1
            known = name in KNOWN_FUNCTIONS or name in UNSUPPORTED_CALLS or name in FUNCTION_HINTS
            if paren < len(term) and term[paren] == "(" and (paren == following or known):
                close = _matching_close(term, paren)
                token, following = term[i : close + 1], close + 1
                args = term[paren + 1 : close]
                _check_call(name, args, token, text, at)
                for _, start, piece in _split_top_level(args, ","):
                    check_term_syntax(piece, text, offset + paren + 1 + start)
            else:
                token = name
        else:
            i += 1
            continue
        if previous:
            raise FormulaError(
                caret_message(
                    text,
                    at,
                    f"Missing operator between '{previous}' and '{token}'",
                    f"Join terms with '+' ({previous} + {token}); a column name with spaces "
                    f"goes in backticks (`{previous} {token}`).",
                )
            )
        previous = token
        i = following


def _check_response_not_predictor(response: Response, rhs: str, text: str, rhs_offset: int) -> None:
    """Refuse a response that also appears among its own predictors (``y ~ y``)."""
    own = set(referenced_names(response.expression))
    if not own:
        return
    masked = re.sub(r"'[^']*'|\"[^\"]*\"", lambda m: " " * len(m.group(0)), rhs)
    for match in IDENTIFIER.finditer(masked):
        name = match.group(0).strip("`")
        following = masked[match.end() :].lstrip()
        if name in own and not following.startswith("("):
            raise FormulaError(
                caret_message(
                    text,
                    rhs_offset + match.start(),
                    f"The response '{name}' also appears on the right of '~'",
                    "A response cannot predict itself: remove it from the predictors (a lagged "
                    "or baseline copy needs its own column).",
                )
            )


def parse_formula(text: str) -> ParsedFormula:
    """Parse a mixed-model formula.

    Parameters
    ----------
    text : str
        An lme4/brms-style formula such as ``"Reaction ~ Days + (Days | Subject)"``.

    Returns
    -------
    ParsedFormula
        Response, fixed part and expanded random-effect terms.

    Raises
    ------
    FormulaError
        With the formula and a caret under the problem.

    Examples
    --------
    >>> parse_formula("y ~ x + (1 | site/plot)").random_terms[1].group
    'site:plot'
    >>> parse_formula("cbind(s, n - s) ~ 1 + (1 | herd)").response.second
    'n - s'
    """
    if not isinstance(text, str):
        raise FormulaError(f"The formula must be a string, got {type(text).__name__}.")
    original = text
    text = _QUOTED_NAME.sub(lambda m: f"`{m.group(2)}`", text)
    _check_parentheses(text)
    tilde = _find_top_level(text, "~")
    if tilde < 0:
        raise FormulaError(
            caret_message(text, len(text), "The formula has no '~'", "Write response ~ predictors.")
        )
    second = _find_top_level(text[tilde + 1 :], "~")
    if second >= 0:
        raise FormulaError(
            caret_message(text, tilde + 1 + second, "The formula has more than one '~'")
        )
    response = _parse_response(text[:tilde], text, 0)
    rhs = text[tilde + 1 :]
    rhs_offset = tilde + 1
    if not rhs.strip():
        raise FormulaError(
            caret_message(text, len(text), "Nothing after '~'", "Write e.g. y ~ 1 or y ~ x.")
        )

    intercept = True
    fixed_terms: list[str] = []
    random_terms: list[RandomTerm] = []
    offsets: list[str] = []
    smooths: list[SmoothTerm] = []
    autocor: ARTerm | None = None
    for sep, start, piece in _split_top_level(rhs, "+-"):
        stripped = piece.strip()
        position = rhs_offset + start + (len(piece) - len(piece.lstrip()))
        if not stripped:
            if sep == "" and start == 0 and rhs.lstrip().startswith("-"):
                continue  # a leading '- 1' splits into an empty first piece
            raise FormulaError(
                caret_message(text, position, "Empty term in formula", "Remove the extra '+'/'-'.")
            )
        structure = "us"
        call = STRUCTURE_CALL.match(stripped)
        if call and _find_top_level(stripped[call.end() : -1], "|") < 0:
            call = None  # a function of that name without a bar is not a structure
        if call and _closing_paren(stripped, call.end() - 1) == len(stripped) - 1:
            structure = call.group(1)
            position += call.end() - 1
            stripped = stripped[call.end() - 1 :]
        if stripped.startswith("(") and _closing_paren(stripped, 0) == len(stripped) - 1:
            inner = stripped[1:-1]
            double = _find_top_level(inner, "||")
            single = _find_top_level(inner, "|")
            if single >= 0:
                if sep == "-":
                    raise FormulaError(
                        caret_message(text, position, "A random-effect term cannot be removed")
                    )
                if structure != "us" and double >= 0:
                    raise FormulaError(
                        caret_message(
                            text,
                            position + 1 + double,
                            f"{structure}() takes a single bar '|'; its structure already says "
                            "how the effects are correlated",
                            f"Write {structure}(effects | group).",
                        )
                    )
                cut, width = (double, 2) if double >= 0 else (single, 1)
                effects, group = inner[:cut].strip(), inner[cut + width :].strip()
                inner_offset = position + 1
                after_bar = inner[cut + width :]
                group_at = inner_offset + cut + width + len(after_bar) - len(after_bar.lstrip())
                if not effects:
                    raise FormulaError(
                        caret_message(
                            text,
                            inner_offset + cut,
                            "Nothing on the left of the bar",
                            "Write (1 | group) for a random intercept.",
                        )
                    )
                id_match = BRMS_ID.fullmatch(group)
                if id_match:
                    raise UnsupportedTermError(
                        caret_message(
                            text,
                            group_at,
                            f"brms's |ID| syntax ('|{id_match.group(1)}|') is not supported: "
                            "it correlates a term's group-level effects across formulas (the "
                            "categories of 'categorical', or bf()'s mean and sigma=, zi=, ...)",
                            f"Supported instead: ({effects} | {id_match.group(2)}), correlated "
                            "inside its own formula only; the same term in another formula (or "
                            "in each category's linear predictor) is an independent block, as "
                            f"in brms without an ID: a different model from |{id_match.group(1)}|.",
                        )
                    )
                if not group or "|" in group:
                    raise FormulaError(
                        caret_message(
                            text,
                            group_at,
                            "Missing or malformed grouping factor after the bar",
                            "Write (effects | group), e.g. (1 | Subject).",
                        )
                    )
                if not GROUP_EXPRESSION.fullmatch(group):
                    raise FormulaError(
                        caret_message(
                            text,
                            group_at,
                            f"Grouping factor '{group}' must be column names joined by ':', '/' "
                            "or '*'",
                        )
                    )
                for _, lhs_start, lhs_piece in _split_top_level(inner[:cut], "+-"):
                    if lhs_piece.strip() or (lhs_start == 0 and effects.startswith("-")):
                        continue
                    raise FormulaError(
                        caret_message(
                            text,
                            inner_offset + lhs_start + len(lhs_piece) - len(lhs_piece.lstrip()),
                            "Empty term on the left of the bar",
                            "Remove the extra '+'/'-'.",
                        )
                    )
                if "/" in group and "*" in group:
                    raise FormulaError(
                        caret_message(
                            text,
                            group_at,
                            f"Grouping factor '{group}' mixes '/' and '*'",
                            "Write the terms out, e.g. (1 | f) + (1 | f:g) + ...",
                        )
                    )
                check_term_syntax(inner[:cut], text, inner_offset)
                own = set(referenced_names(inner[:cut])).intersection(
                    part.strip("`") for part in re.split(r"\s*[:/*]\s*", group)
                )
                if own:
                    name = sorted(own)[0]
                    raise FormulaError(
                        caret_message(
                            text,
                            position,
                            f"'{name}' is both a varying effect and the grouping factor in "
                            f"{stripped}",
                            f"Its effects cannot vary over its own levels: write (1 | {group}) "
                            f"for a random intercept of {name}.",
                        )
                    )
                normalised = _normalise_effects(effects)
                correlated = double < 0 and structure != "diag" and structure != "homdiag"
                for expanded in expand_group(group):
                    random_terms.append(RandomTerm(normalised, expanded, correlated, structure))
                continue
        bar = _find_top_level(stripped, "|")
        if bar >= 0:
            raise FormulaError(
                caret_message(
                    text,
                    position + bar,
                    "A random-effect term must be in parentheses",
                    f"Write ({stripped}) instead of {stripped}.",
                )
            )
        offset_match = re.fullmatch(r"offset\s*\((.*)\)", stripped, flags=re.S)
        if offset_match and _closing_paren(stripped, stripped.index("(")) == len(stripped) - 1:
            if sep == "-" or not offset_match.group(1).strip():
                raise FormulaError(
                    caret_message(
                        text,
                        position,
                        "An offset must be added with a non-empty expression",
                        "Write + offset(log(exposure)).",
                    )
                )
            offsets.append(offset_match.group(1).strip())
            continue
        if AR_CALL.match(stripped) and sep != "-":
            if autocor is not None:
                raise FormulaError(
                    caret_message(
                        text,
                        position,
                        "A formula takes one ar() term",
                        f"Keep one of {autocor.text} and {stripped}.",
                    )
                )
            autocor = parse_ar(stripped)
            continue
        if re.match(r"^(arma|ma|cosy)\s*\(", stripped):
            raise FormulaError(
                caret_message(
                    text,
                    position,
                    f"Residual autocorrelation terms such as {stripped} are not supported yet",
                    "Model the correlation over time with a random term instead, e.g. "
                    "ar1(0 + time | group) (glmmTMB's syntax), or drop the term.",
                )
            )
        if SMOOTH_CALL.match(stripped) and sep != "-":
            smooths.append(parse_smooth(stripped, text))
            continue
        check_term_syntax(stripped, text, position)
        if stripped == "1" and sep != "-":
            intercept = True
        elif stripped == "0" or (stripped == "1" and sep == "-"):
            intercept = False
        elif sep == "-":
            fixed_terms.append(f"- {stripped}")
        else:
            fixed_terms.append(stripped)
    fixed = " + ".join(["1" if intercept else "0", *fixed_terms]).replace("+ -", "-")
    _check_response_not_predictor(response, rhs, text, rhs_offset)
    return ParsedFormula(
        original, response, fixed, tuple(random_terms), tuple(offsets), tuple(smooths), autocor
    )
