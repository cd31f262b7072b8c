"""Unit tests for ioc.naming: PV names, the 60-character limit, short names, collisions."""

import hashlib

import pytest

from ioc.naming import (
    MAX_RECORD_NAME,
    NamingError,
    RecordName,
    heartbeat_name,
    name_problem,
    plan_names,
    pv_name,
    short_name,
)


def name_of_length(base: str, length: int) -> str:
    """A valid full name under `base` with exactly `length` characters."""
    head = f"{base}:Dev:"
    return head + "x" * (length - len(head))


@pytest.mark.parametrize(
    ("base", "path", "expected"),
    [
        ("SIM", "root.Version.ScratchPad", "SIM:root:Version:ScratchPad"),
        ("SIM", "root", "SIM:root"),
        ("A:B", "root.Dev[0].Var", "A:B:root:Dev[0]:Var"),
    ],
)
def test_pv_name_replaces_dots(base: str, path: str, expected: str) -> None:
    assert pv_name(base, path) == expected


def test_heartbeat_name() -> None:
    assert heartbeat_name("SIM") == "SIM:IOC:Heartbeat"


@pytest.mark.parametrize("length", [8, 40, MAX_RECORD_NAME - 1, MAX_RECORD_NAME])
def test_names_up_to_the_limit_are_record_names(length: int) -> None:
    full = name_of_length("SIM", length)
    plan = plan_names("SIM", {"root.x": full})
    assert plan == {"root.x": RecordName(full=full, record=full)}
    assert not plan["root.x"].aliased


@pytest.mark.parametrize("length", [MAX_RECORD_NAME + 1, 100, 500])
def test_longer_names_get_a_short_record_and_keep_the_full_alias(length: int) -> None:
    full = name_of_length("SIM", length)
    names = plan_names("SIM", {"root.x": full})["root.x"]
    assert names.aliased
    assert names.full == full
    assert names.record == short_name("SIM", full)
    assert names.record.startswith("SIM:")
    assert len(names.record) <= MAX_RECORD_NAME
    assert names.record == "SIM:tail_" + hashlib.sha1(full.encode()).hexdigest()[:10]


def test_short_name_is_rogue_epicsv7s() -> None:
    # Rogue's epicsV7: '<base>:tail_' + sha1('<base>:<suffix>')[:10] when the name is over 60.
    full = "ROGUE:root:AxiVersion:" + "VeryLongVariableName" * 3
    expected = "ROGUE:tail_" + hashlib.sha1(full.encode()).hexdigest()[:10]
    assert plan_names("ROGUE", {"root.x": full})["root.x"].record == expected
    # A pvMap name outside the base is hashed as Rogue does: under the base.
    outside = "OTHER:" + "x" * 70
    digest = hashlib.sha1(f"ROGUE:{outside}".encode()).hexdigest()[:10]
    assert short_name("ROGUE", outside) == f"ROGUE:tail_{digest}"


def test_short_names_are_deterministic_and_distinct() -> None:
    names = {f"root.Dev.Var{i}": name_of_length("SIM", 70) + str(i) for i in range(100)}
    first = plan_names("SIM", names)
    assert first == plan_names("SIM", dict(reversed(names.items())))
    assert len({n.record for n in first.values()}) == len(names)


def test_longest_usable_prefix() -> None:
    base = "B" * (MAX_RECORD_NAME - 16)
    full = name_of_length(base, 200)
    assert len(plan_names(base, {"root.x": full})["root.x"].record) == MAX_RECORD_NAME


def test_prefix_too_long_for_short_names() -> None:
    base = "B" * (MAX_RECORD_NAME - 15)
    with pytest.raises(NamingError, match="too long"):
        plan_names(base, {"root.x": f"{base}:x"})


def test_same_full_name_names_both_paths() -> None:
    with pytest.raises(NamingError) as err:
        plan_names("SIM", {"root.a": "SIM:X", "root.b": "SIM:X"})
    assert "'root.a'" in str(err.value)
    assert "'root.b'" in str(err.value)


def test_short_name_equal_to_another_full_name_names_both_paths() -> None:
    long_full = name_of_length("SIM", 80)
    taken = short_name("SIM", long_full)
    with pytest.raises(NamingError) as err:
        plan_names("SIM", {"root.long": long_full, "root.plain": taken})
    assert "'root.long'" in str(err.value)
    assert "'root.plain'" in str(err.value)


def test_short_name_collision_names_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    # A sha1 prefix collision cannot be produced on demand; shorten the suffix to one character
    # and pick two names whose digests share it.
    monkeypatch.setattr("ioc.naming.HASH_CHARS", 1)
    by_digit: dict[str, str] = {}
    for i in range(100):
        full = name_of_length("SIM", 70) + str(i)
        first = by_digit.setdefault(hashlib.sha1(full.encode()).hexdigest()[0], full)
        if first != full:
            break
    with pytest.raises(NamingError) as err:
        plan_names("SIM", {"root.first": first, "root.second": full})
    assert "'root.first'" in str(err.value)
    assert "'root.second'" in str(err.value)


def test_reserved_names_collide_with_variables() -> None:
    reserved = {heartbeat_name("SIM"): "the IOC heartbeat"}
    with pytest.raises(NamingError) as err:
        plan_names("SIM", {"root.IOC.Heartbeat": pv_name("SIM", "IOC.Heartbeat")}, reserved)
    assert "the IOC heartbeat" in str(err.value)
    assert "'root.IOC.Heartbeat'" in str(err.value)


def test_reserved_names_must_fit_a_record() -> None:
    too_long = "SIM:" + "x" * MAX_RECORD_NAME
    with pytest.raises(NamingError, match="the IOC heartbeat"):
        plan_names("SIM", {}, {too_long: "the IOC heartbeat"})


def test_reserved_names_without_collision_are_not_planned() -> None:
    plan = plan_names("SIM", {"root.x": "SIM:root:x"}, {heartbeat_name("SIM"): "heartbeat"})
    assert list(plan) == ["root.x"]


@pytest.mark.parametrize(
    ("full", "bad"),
    [
        ("SIM:root:My Var", "' '"),
        ("SIM:root.Var", "'.'"),
        ("SIM:$(P)Var", "'$' '(' ')'"),
        ("SIM:{Var}", "'{' '}'"),
        ("SIM:'Var'", '"\'"'),
        ('SIM:"Var"', "'\"'"),
        ("SIM:Var\t", "'\\t'"),
        ("SIM:Vär", "'ä'"),
        ("SIM:a,b", "','"),
    ],
)
def test_illegal_characters_name_the_path_and_the_characters(full: str, bad: str) -> None:
    with pytest.raises(NamingError) as err:
        plan_names("SIM", {"root.Var": full})
    assert "'root.Var'" in str(err.value)
    assert bad in str(err.value)


@pytest.mark.parametrize("full", ["SIM:a_b-c+d:e[0]<f>;g", "SIM:" + "Z" * 500, "sim:09"])
def test_legal_characters_are_accepted(full: str) -> None:
    assert name_problem(full) is None
    assert plan_names("SIM", {"root.x": full})["root.x"].full == full


@pytest.mark.parametrize("full", ["-SIM:x", "+SIM:x", "[SIM]:x", ""])
def test_bad_first_characters_and_empty_names(full: str) -> None:
    with pytest.raises(NamingError, match=r"'root\.x'"):
        plan_names("SIM", {"root.x": full})


@pytest.mark.parametrize("base", ["", "MY SIM", "SIM.A", "-SIM"])
def test_unusable_prefix(base: str) -> None:
    with pytest.raises(NamingError, match="prefix"):
        plan_names(base, {"root.x": "SIM:x"})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(NamingError) as err:
        plan_names("SIM", {"root.a": "SIM:a b", "root.b": "SIM:b.c", "root.c": "SIM:ok"})
    assert "'root.a'" in str(err.value)
    assert "'root.b'" in str(err.value)
    assert "'root.c'" not in str(err.value)


def test_naming_error_is_a_value_error() -> None:
    assert issubclass(NamingError, ValueError)


def test_many_500_character_names() -> None:
    names = {f"root.Dev.Var{i}": name_of_length("SIM", 500) + str(i) for i in range(20_000)}
    plan = plan_names("SIM", names)
    assert sum(n.aliased for n in plan.values()) == len(names)
