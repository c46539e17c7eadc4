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
        ).replace(f"import sys, importlib;", "import sys, importlib, pkgutil;")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"{mod} imported later layers: {out}"


def test_import_recneg_is_light():
    code = "import sys, recneg; print(sorted(m for m in ('torch', 'numba', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
