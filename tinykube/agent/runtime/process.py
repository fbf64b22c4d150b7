"""The container's process: arguments, environment and working directory, by the rules
the kubelet and containerd apply (pure functions).

- `expand`: Kubernetes' `$(VAR)` expansion (k8s.io/kubernetes third_party/forked/golang/
  expansion): `$$` is a literal `$`, an unknown `$(VAR)` stays as written, an unclosed
  `$(` is copied as is. The kubelet expands command and args with the container's own
  resolved env (not the image's), which is what the agent passes here.
- `process_args`: containerd's WithProcessArgs: `command` replaces the image ENTRYPOINT and
  drops its CMD; `args` alone replace CMD; an ENTRYPOINT of [""] counts as none.
- `merge_env`: containerd's replaceOrAppendEnvValues: later values replace earlier ones in
  place, new keys are appended, a bare `KEY` (no `=`) unsets KEY.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import CreateContainerError

# containerd's default spec environment; an image that sets PATH replaces it.
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def expand(text: str, env: Mapping[str, str]) -> str:
    """`$(NAME)` replaced by env[NAME]; `$$` -> `$`; everything else unchanged."""
    out: list[str] = []
    checkpoint = cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, advance = _read_reference(text, cursor + 1, env)
            out.append(read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


def _read_reference(text: str, start: int, env: Mapping[str, str]) -> tuple[str, int]:
    """What `$` followed by text[start:] turns into, and how far past the `$` it reached."""
    first = text[start]
    if first == "$":
        return "$", 1
    if first != "(":
        return "$" + first, 1
    close = text.find(")", start + 1)
    if close < 0:
        return "$(", 1
    name = text[start + 1:close]
    return (env[name] if name in env else f"$({name})"), close - start + 1


def env_map(env: Sequence[str]) -> dict[str, str]:
    """A "K=V" list as a dict (the last value of a repeated key wins, like the kubelet)."""
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def process_args(*, command: Sequence[str] | None, args: Sequence[str] | None,
                 entrypoint: Sequence[str], cmd: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The argv of the container's process; CreateContainerError when there is none."""
    command = [expand(c, env) for c in command or ()]
    args = [expand(a, env) for a in args or ()]
    if not command:
        args = args or list(cmd)
        command = [] if list(entrypoint) == [""] else list(entrypoint)
    if not command and not args:
        raise CreateContainerError("failed to generate spec: no command specified")
    return command + args


def merge_env(defaults: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """containerd's replaceOrAppendEnvValues."""
    results = list(defaults)
    index = {item.partition("=")[0]: i for i, item in enumerate(results)}
    for item in overrides:
        key, sep, _ = item.partition("=")
        if not sep:
            if key in index:
                results[index[key]] = ""  # unset, removed below
            continue
        if key in index:
            results[index[key]] = item
        else:
            index[key] = len(results)
            results.append(item)
    return [item for item in results if item]


def process_env(*, hostname: str, image_env: Sequence[str], container_env: Sequence[str]) -> list[str]:
    """The environment as containerd's CRI builds it: default PATH, HOSTNAME, then the
    image's Env, then the container's (already resolved by the agent: env, envFrom,
    valueFrom, service variables)."""
    base = [DEFAULT_PATH] + ([f"HOSTNAME={hostname}"] if hostname else [])
    return merge_env(base, list(image_env) + list(container_env))


def working_dir(container: Mapping, image_working_dir: str) -> str:
    """workingDir, else the image's WorkingDir, else "/"."""
    return container.get("workingDir") or image_working_dir or "/"
