"""parse_schedule: the command-line form of a sampler schedule."""
import math

import pytest

from recneg.sampling import ConstantSchedule, ExponentialSchedule, LinearSchedule, parse_schedule


def test_constant_and_linear_over_the_epochs():
    s = parse_schedule("5", steps=10, name="k")
    assert isinstance(s, ConstantSchedule) and s(0) == 5 and s(9) == 5
    s = parse_schedule("1:20:linear", steps=20, name="k")
    assert isinstance(s, LinearSchedule)
    assert [s.int_value(e) for e in (0, 19)] == [1, 20]
    assert s(19 / 2) == pytest.approx(10.5)
    s = parse_schedule("1:0", steps=5, name="alpha")  # linear by default, decreasing works
    assert [s(e) for e in range(5)] == pytest.approx([1, 0.75, 0.5, 0.25, 0])


def test_exponential():
    s = parse_schedule("1:0.01:exp", steps=3, name="temperature")
    assert isinstance(s, ExponentialSchedule)
    assert [s(e) for e in range(3)] == pytest.approx([1, 0.1, 0.01])
    assert math.isclose(s(5), 0.01)


def test_numbers_pass_through_and_one_epoch():
    assert parse_schedule(3, steps=4, name="k")(2) == 3
    assert parse_schedule("2:8", steps=1, name="k")(0) == 2


@pytest.mark.parametrize("text,needle", [
    ("a:b", "k must be a number or START:END"), ("1:2:cubic", "linear|exp"), ("1:2:linear:x", "START:END"),
    ("0:1:exp", "k '0:1:exp'"), ("", "k must be a number"),
])
def test_bad_forms_name_the_parameter(text, needle):
    with pytest.raises(ValueError, match="k") as e:
        parse_schedule(text, steps=10, name="k")
    assert needle in str(e.value)
