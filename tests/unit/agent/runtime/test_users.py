"""Table tests: which uid, gid and supplementary groups a container runs with."""

import pytest

from tinykube.agent.runtime import CreateContainerConfigError, CreateContainerError
from tinykube.agent.runtime.users import User, parse_group, parse_passwd, resolve_user

PASSWD = """root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1::/:/bin/false
app:x:1000:1000::/home/app:/bin/sh
broken line
nobody:x:65534:65534::/:/bin/false
"""
GROUP = """root:x:0:
wheel:x:10:app,root
audio:x:29:app
app:x:1000:app
staff:x:50:root
"""


def pod(psc=None, name="p"):
    return {"metadata": {"name": name, "namespace": "ns", "uid": "u1"},
            "spec": {"securityContext": psc or {}}}


def container(csc=None):
    return {"name": "c", "securityContext": csc or {}}


@pytest.mark.parametrize("psc,csc,image_user,expected", [
    ({}, {}, "", User(0, 0, (0, 10, 50))),                       # root, its groups from /etc/group
    ({}, {}, "app", User(1000, 1000, (10, 29, 1000))),            # name from passwd
    ({}, {}, "1000", User(1000, 1000, (10, 29, 1000))),           # uid: gid from passwd
    ({}, {}, "4242", User(4242, 0, (0,))),          # unknown uid: gid 0
    ({}, {}, "app:29", User(1000, 1000, (10, 29, 1000))),         # image group dropped, as Kubernetes
    ({"runAsUser": 1}, {}, "app", User(1, 1, (1,))),              # pod runAsUser over the image
    ({"runAsUser": 1}, {"runAsUser": 1000}, "", User(1000, 1000, (10, 29, 1000))),  # container wins
    ({}, {"runAsUser": 1000, "runAsGroup": 5}, "", User(1000, 5, (5, 10, 29))),
    ({"runAsGroup": 7}, {}, "app", User(1000, 7, (7, 10, 29))),
    ({"supplementalGroups": [300, 10], "fsGroup": 2000}, {}, "app", User(1000, 1000, (10, 29, 300, 1000, 2000))),
    ({"supplementalGroupsPolicy": "Strict", "supplementalGroups": [300]}, {}, "app", User(1000, 1000, (300, 1000))),
])
def test_resolve_user(psc, csc, image_user, expected):
    assert resolve_user(pod(psc), container(csc), image_user, passwd=PASSWD, group=GROUP) == expected


def test_without_passwd_numeric_users_still_work():
    assert resolve_user(pod(), container({"runAsUser": 5}), "app") == User(5, 0, (0,))


def test_an_unknown_user_name_is_a_create_container_error():
    with pytest.raises(CreateContainerError, match="unable to find user ghost"):
        resolve_user(pod(), container(), "ghost", passwd=PASSWD, group=GROUP)


@pytest.mark.parametrize("psc,csc,image_user,message", [
    ({"runAsNonRoot": True}, {}, "", "container has runAsNonRoot and image will run as root"),
    ({"runAsNonRoot": True}, {}, "0", "image will run as root"),
    ({}, {"runAsNonRoot": True}, "app", "image has non-numeric user (app), cannot verify user is non-root"),
    ({"runAsNonRoot": True}, {"runAsUser": 0}, "app", "container's runAsUser breaks non-root policy"),
])
def test_run_as_non_root_violations(psc, csc, image_user, message):
    with pytest.raises(CreateContainerConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        resolve_user(pod(psc), container(csc), image_user, passwd=PASSWD, group=GROUP)
    assert '(pod: "p_ns(u1)", container: c)' in str(err.value)


@pytest.mark.parametrize("psc,csc,image_user", [
    ({"runAsNonRoot": True}, {}, "1000"),
    ({"runAsNonRoot": True}, {"runAsUser": 1000}, "app"),       # runAsUser settles it
    ({"runAsNonRoot": True}, {"runAsNonRoot": False}, ""),      # the container relaxes it
])
def test_run_as_non_root_satisfied(psc, csc, image_user):
    resolve_user(pod(psc), container(csc), image_user, passwd=PASSWD, group=GROUP)  # no error


def test_user_to_oci():
    assert User(1, 2, (2, 3)).to_oci() == {"uid": 1, "gid": 2, "additionalGids": [2, 3]}
    assert User(1, 2).to_oci() == {"uid": 1, "gid": 2}


def test_parsers_skip_comments_and_malformed_lines():
    assert parse_passwd(PASSWD) == [("root", 0, 0), ("daemon", 1, 1), ("app", 1000, 1000), ("nobody", 65534, 65534)]
    assert parse_group("x:y:notanumber:\nwheel:x:10:a,b\n") == [("wheel", 10, ("a", "b"))]
