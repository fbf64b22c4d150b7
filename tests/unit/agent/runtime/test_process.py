"""Table tests: $(VAR) expansion, ENTRYPOINT/CMD vs command/args, environment merging."""

import pytest

from tinykube.agent.runtime import CreateContainerError, expand
from tinykube.agent.runtime.process import (DEFAULT_PATH, env_map, merge_env, process_args,
                                            process_env, working_dir)

ENV = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "EMPTY": "", "$(VAR_A)": "nested"}


@pytest.mark.parametrize("text,expected", [
    ("$(VAR_A)", "A"),
    ("___$(VAR_B)___", "___B___"),
    ("$(VAR_A)-$(VAR_B)-$(VAR_C)", "A-B-C"),
    ("$(EMPTY)", ""),
    ("$$(VAR_A)", "$(VAR_A)"),            # $$ escapes
    ("$$$(VAR_A)", "$A"),
    ("$$$$(VAR_A)", "$$(VAR_A)"),
    ("f000-$$VAR_A", "f000-$VAR_A"),
    ("$(VAR_DNE)", "$(VAR_DNE)"),          # unknown names stay as written
    ("$()", "$()"),
    ("$(VAR_A", "$(VAR_A"),                # unclosed: copied
    ("$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),  # the name is "VAR_A$(VAR_B": unknown
    ("$", "$"),
    ("$$", "$"),
    ("$$$", "$$"),
    ("x$", "x$"),
    ("$x", "$x"),
    ("$VAR_A", "$VAR_A"),                   # shell syntax is not Kubernetes syntax
    ("${VAR_A}", "${VAR_A}"),
    ("$(VAR_A)$(VAR_A)", "AA"),
    ("ünï$(VAR_A)cødé", "ünïAcødé"),
    ("$(VAR_A))", "A)"),
    ("", ""),
])
def test_expand(text, expected):
    assert expand(text, ENV) == expected


def test_expand_does_not_expand_twice():
    assert expand("$(NEXT)", {"NEXT": "$(VAR_A)", "VAR_A": "A"}) == "$(VAR_A)"


@pytest.mark.parametrize("command,args,entrypoint,cmd,expected", [
    (None, None, ["/ep"], ["c1", "c2"], ["/ep", "c1", "c2"]),         # the image's own
    (None, ["a1"], ["/ep"], ["c1"], ["/ep", "a1"]),                     # args replace CMD
    (["/cmd"], None, ["/ep"], ["c1"], ["/cmd"]),                        # command drops CMD too
    (["/cmd"], ["a1"], ["/ep"], ["c1"], ["/cmd", "a1"]),
    ([], [], ["/ep"], ["c1"], ["/ep", "c1"]),                           # empty lists = unset
    (None, None, [], ["/bin/sh"], ["/bin/sh"]),                         # CMD alone
    (None, ["x"], [], ["/bin/sh"], ["x"]),
    (None, None, [""], ["/bin/sh", "-c", "x"], ["/bin/sh", "-c", "x"]),  # ENTRYPOINT [""]
    (["/cmd", "$(VAR_A)"], ["$(VAR_B)", "$$(VAR_C)"], [], [], ["/cmd", "A", "B", "$(VAR_C)"]),
    (None, None, ["$(VAR_A)"], ["$(VAR_B)"], ["$(VAR_A)", "$(VAR_B)"]),  # the image's: not expanded
])
def test_process_args(command, args, entrypoint, cmd, expected):
    assert process_args(command=command, args=args, entrypoint=entrypoint, cmd=cmd, env=ENV) == expected


@pytest.mark.parametrize("entrypoint,cmd", [([], []), ([""], [])])
def test_no_command_at_all_is_a_create_container_error(entrypoint, cmd):
    with pytest.raises(CreateContainerError, match="no command specified"):
        process_args(command=None, args=None, entrypoint=entrypoint, cmd=cmd, env={})


@pytest.mark.parametrize("defaults,overrides,expected", [
    (["A=1", "B=2"], ["B=3"], ["A=1", "B=3"]),                   # replaced in place
    (["A=1"], ["C=3", "D=4"], ["A=1", "C=3", "D=4"]),            # appended in order
    (["A=1", "B=2"], ["A"], ["B=2"]),                            # a bare key unsets
    (["A=1"], ["C=1", "C=2"], ["A=1", "C=2"]),                   # repeated override: last wins
    (["A=1"], ["B"], ["A=1"]),                                   # unsetting the unknown
    (["A=x=y"], ["A=p=q"], ["A=p=q"]),                           # values may hold '='
    (["A=1"], ["A="], ["A="]),                                   # empty is a value
])
def test_merge_env(defaults, overrides, expected):
    assert merge_env(defaults, overrides) == expected


def test_process_env_is_default_path_hostname_image_then_container():
    env = process_env(hostname="web", image_env=["PATH=/img/bin", "LANG=C", "X=image"],
                      container_env=["X=container", "Y=1"])
    assert env == ["PATH=/img/bin", "HOSTNAME=web", "LANG=C", "X=container", "Y=1"]
    assert process_env(hostname="", image_env=[], container_env=[]) == [DEFAULT_PATH]


def test_env_map_last_value_wins():
    assert env_map(["A=1", "B=x=y", "A=2", "C"]) == {"A": "2", "B": "x=y", "C": ""}


@pytest.mark.parametrize("container,image_dir,expected", [
    ({"workingDir": "/app"}, "/img", "/app"),
    ({}, "/img", "/img"),
    ({}, "", "/"),
])
def test_working_dir(container, image_dir, expected):
    assert working_dir(container, image_dir) == expected
