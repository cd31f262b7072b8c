"""The simulator provides the tree API the IOC relies on (ioc/tree.py), and so does real pyrogue
where it is installed; `takes_argument` reads commands as pyrogue defines them."""

import importlib.util

import pytest

from ioc import tree
from sim import SimRoot


@pytest.fixture(scope="module")
def root():
    """A started SimRoot without polling."""
    with SimRoot(pollEn=False) as sim:
        yield sim


def test_the_simulator_satisfies_the_protocols(root):
    assert isinstance(root, tree.Root)
    variables = list(root.variableList)
    assert variables
    for var in variables:
        assert isinstance(var, tree.Variable), var.path
        assert isinstance(var.getVariableValue(read=False), tree.VariableValue), var.path
        if var.isCommand:
            assert isinstance(var, tree.Command), var.path


def test_takes_argument(root):
    assert tree.takes_argument(root.Cmd.SetCount)
    assert not tree.takes_argument(root.Cmd.Ping)
    assert not tree.takes_argument(root.Cmd.Count)  # a Variable takes none
    assert tree.as_command(root.Cmd.Ping) is root.Cmd.Ping
    with pytest.raises(TypeError, match="not a Command"):
        tree.as_command(root.Cmd.Count)


@pytest.mark.skipif(
    importlib.util.find_spec("pyrogue") is None, reason="real pyrogue is not installed"
)
def test_real_pyrogue_satisfies_the_protocols():
    import pyrogue

    for cls, protocol in (
        (pyrogue.Root, tree.Root),
        (pyrogue.BaseVariable, tree.Variable),
        (pyrogue.BaseCommand, tree.Command),
    ):
        missing = [name for name in _members(protocol) if not hasattr(cls, name)]
        assert not missing, f"{cls.__name__} lacks {missing}"
    # (pyrogue.VariableValue sets its members per instance: checked through the simulator.)


def _members(protocol: type) -> set[str]:
    """The names a Protocol declares, its bases' included."""
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass.__module__ == tree.__name__:
            names |= {n for n in vars(klass) if not n.startswith("_") or n == "__call__"}
    return names
