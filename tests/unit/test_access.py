"""Unit tests for ioc.access: merging a lab's rules with the write trap, ASG selection."""

import pytest

from ioc.access import AccessError, AccessSecurity, asg_of, merged_rules, parse_asg_rule
from sim.tree import Device, LocalVariable, Root


def test_every_write_rule_is_trapped():
    text = """
    # comment with RULE(1, WRITE) inside
    ASG(DEFAULT) {
        RULE(1,WRITE)
        RULE( 0 , WRITE , NOTRAPWRITE )
        RULE(1, READ)
        RULE(1, WRITE, TRAPWRITE) { HAG(consoles) CALC("A=1") }
    }
    """
    merged = merged_rules(text)
    assert merged.count("RULE(1, WRITE, TRAPWRITE)") == 2
    assert "RULE(0, WRITE, TRAPWRITE)" in merged
    assert "NOTRAPWRITE" not in merged
    assert "RULE(1, READ, TRAPWRITE)" in merged
    assert 'CALC("A=1")' in merged
    assert "comment" not in merged


def test_a_hash_inside_a_quoted_string_is_kept():
    assert merged_rules('CALC("A#1") # gone') == 'CALC("A#1") '


@pytest.mark.parametrize(
    ("text", "asg", "group", "pattern"),
    [
        ("EXPERT=group:Expert", "EXPERT", "Expert", None),
        ("EXPERT=root.Thermal.*", "EXPERT", None, "root.Thermal.*"),
        (" OPS = *.Label ", "OPS", None, "*.Label"),
    ],
)
def test_asg_rules_parse(text, asg, group, pattern):
    rule = parse_asg_rule(text)
    assert (rule.asg, rule.group, rule.pattern) == (asg, group, pattern)


@pytest.mark.parametrize("text", ["EXPERT", "=root.*", "EXPERT=", "EXPERT=group:", "A B=x"])
def test_bad_asg_rules_are_errors(text):
    with pytest.raises(AccessError):
        parse_asg_rule(text)


def test_first_matching_rule_wins_and_groups_count_from_devices_above():
    root = Root(name="root")
    expert = Device(name="Expert", groups=["Expert"])
    expert.add(LocalVariable(name="Gain", value=1))
    plain = Device(name="Plain")
    plain.add([LocalVariable(name="Label", value=""), LocalVariable(name="Gain", value=1)])
    root.add([expert, plain])
    root.start()  # paths exist once the Root starts, as in pyrogue
    try:
        rules = [parse_asg_rule("EXPERT=group:Expert"), parse_asg_rule("OPS=*.Label")]
        assert asg_of(expert.Gain, rules) == "EXPERT"
        assert asg_of(plain.Label, rules) == "OPS"
        assert asg_of(plain.Gain, rules) is None
    finally:
        root.stop()


def test_read_only_and_a_rules_file_exclude_each_other(tmp_path):
    with pytest.raises(AccessError, match="exclude"):
        AccessSecurity(acf=str(tmp_path / "x.acf"), read_only=True)
    assert ", WRITE" not in AccessSecurity(read_only=True).rules_text()
    assert AccessSecurity().rules_text() is None
    with pytest.raises(AccessError, match="cannot read"):
        AccessSecurity(acf=str(tmp_path / "missing.acf")).rules_text()
