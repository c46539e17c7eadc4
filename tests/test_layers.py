"""Each layer imports without the layers after it: data -> sampling -> engine -> models -> evaluation."""
import subprocess
import sys

import pytest

ORDER = ["recneg.data", "recneg.sampling", "recneg.engine", "recneg.models", "recneg.evaluation"]


@pytest.mark.parametrize("i", range(len(ORDER) - 1))
def test_layer_does_not_import_later_layers(i):
    mod = ORDER[i]
    later = ORDER[i + 1:]
    code = (
        f"import sys, importlib; importlib.import_module({mod!r}); "
        f"import pkgutil, {mod.split('.')[0]}; "
        f"bad = [m for m in sys.modules if any(m == l or m.startswith(l + '.') for l in {later!r})]; "
        "print(','.join(bad))"
    )
    if mod in ("recneg.sampling", "recneg.engine", "recneg.models"):
        # import every submodule of the layer, not just its __init__
        code = code.replace(
            f"importlib.import_module({mod!r});",
            f"p = importlib.import_module({mod!r}); [importlib.import_module({mod!r} + '.' + n.name) "
            f"for n in pkgutil.iter_modules(p.__path__)];",
        ).replace("import sys, importlib;", "import sys, importlib, pkgutil;")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"{mod} imported later layers: {out}"


def test_import_recneg_is_light():
    code = "import sys, recneg; print(sorted(m for m in ('torch', 'numba', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


# --------------------------------------------------------------------------- every negative is drawn in sampling
import ast  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "recneg"
OUTSIDE_SAMPLING = sorted(p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if p.parent.name != "sampling")
# item-range arguments: what a negative draw passes to a random-integer / choice call
_ITEMISH = re.compile(r"item|vocab|n_words|n_neg|negative")
# random draws that are not item draws, allowed by the enclosing function's name: shuffles, subsampling, window size
_RNG_ALLOWED_IN = {"shuffle_inplace", "user_block_order", "_subsample_keep", "_reduced_window"}
_ALIAS_NAMES = {"AliasTable", "TorchAliasTable", "_vose_build", "alias_draw", "to_torch"}


def _calls(path: str):
    """(call node, name of the enclosing function or '', source segment) for every call in recneg/<path>."""
    text = (SRC / path).read_text()
    tree = ast.parse(text)
    out = []

    def visit(node, fn):
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else fn
            if isinstance(child, ast.Call):
                out.append((child, name, ast.get_source_segment(text, child) or ""))
            visit(child, name)

    visit(tree, "")
    return out


def _callee(call: ast.Call) -> tuple[str, str]:
    """(object name or '', called name) of ``obj.name(...)`` / ``name(...)``."""
    f = call.func
    if isinstance(f, ast.Name):
        return "", f.id
    if isinstance(f, ast.Attribute):
        v = f.value
        obj = v.id if isinstance(v, ast.Name) else (v.attr if isinstance(v, ast.Attribute) else "")
        if isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name):
            obj = f"{v.value.id}.{v.attr}"
        return obj, f.attr
    return "", ""


def _alias_table(call, fn, src):
    obj, name = _callee(call)
    return name in _ALIAS_NAMES or obj in _ALIAS_NAMES or (name == "sample" and "table" in obj.lower())


def _rng_item_draw(call, fn, src):
    return _callee(call)[1] in ("rng_uniform", "rng_next") and fn not in _RNG_ALLOWED_IN


def _numpy_item_draw(call, fn, src):
    obj, name = _callee(call)
    if obj == "np.random" and name not in ("default_rng", "SeedSequence", "Generator"):
        return True  # legacy global-state draws
    return name in ("integers", "choice") and bool(_ITEMISH.search(src[src.index("(") :]))


def _torch_item_draw(call, fn, src):
    obj, name = _callee(call)
    if obj != "torch":
        return False
    return name == "multinomial" or (name == "randint" and bool(_ITEMISH.search(src[src.index("(") :])))


CHECKS = {"alias table": _alias_table, "rng item draw": _rng_item_draw, "numpy item draw": _numpy_item_draw,
          "torch item draw": _torch_item_draw}
# (file, check) -> why it is allowed. Synthetic data picks the items a simulated user consumes: not negatives.
ALLOWED = {("datasets/synthetic.py", "numpy item draw"): "synthetic interactions, not negatives"}


def _offences(path: str, check: str) -> list[str]:
    return [f"{path}:{c.lineno} in {fn or '<module>'}: {src.splitlines()[0][:80]}"
            for c, fn, src in _calls(path) if CHECKS[check](c, fn, src)]


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_no_negative_is_drawn_outside_sampling(check):
    """Alias tables and random item draws live in recneg/sampling; other modules call its draw functions."""
    bad = [o for path in OUTSIDE_SAMPLING if (path, check) not in ALLOWED for o in _offences(path, check)]
    assert bad == [], f"{check} outside recneg/sampling (draw through recneg.sampling instead):\n" + "\n".join(bad)


def test_torch_engine_files_are_checked():
    """The torch trainers are covered by the check above (no exemption left for them)."""
    torch_files = {"engine/mf_torch.py", "engine/skipgram_torch.py"}
    assert torch_files <= set(OUTSIDE_SAMPLING)
    assert not {path for path, _ in ALLOWED} & torch_files


def test_sampling_check_catches_the_old_patterns():
    """The checks are not vacuous: the pre-redesign code shapes are caught."""
    samples = {
        "alias table": "t = AliasTable(w)\nj = table.sample(10, rng)\n",
        "rng item draw": "def draw(s, n):\n    s = rng_next(s)\n    return int(rng_uniform(s) * n)\n",
        "numpy item draw": "j = rng.integers(0, n_items, 5)\nk = np.random.randint(0, 10)\n",
        "torch item draw": "j = torch.randint(0, self.n_items, (n,))\nk = torch.multinomial(p, 3)\n",
    }
    for check, code in samples.items():
        tree = ast.parse(code)
        fns = {id(n): f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for n in ast.walk(f)}
        hits = [c for c in ast.walk(tree) if isinstance(c, ast.Call)
                and CHECKS[check](c, fns.get(id(c), ""), ast.get_source_segment(code, c))]
        assert len(hits) >= 2 if check != "rng item draw" else len(hits) == 2, check
