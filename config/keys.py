"""Refuse settings keys the model does not have, wherever they were written.

pydantic ignores unknown keys inside a section and pydantic-settings ignores
unknown ``SEISMOWATCH_*`` variables, so a misspelt ``[alerts] target_energy``
would leave the default target in force without a word. Every key in the TOML
file and the environment is checked against the model first; the error names
the key, where it was written and the closest valid name.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel

ENV_PREFIX = "SEISMOWATCH_"
# variables with this prefix that are not settings (the CLI's --config)
NOT_SETTINGS = frozenset({"CONFIG"})


class UnknownSettingError(ValueError):
    """A key no setting has; the message is one line."""


def check_toml(path: Path, model: type[BaseModel]) -> None:
    """Raise :class:`UnknownSettingError` for the first unknown key of the TOML file."""
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UnknownSettingError(f"{path}: not valid TOML ({exc})") from None
    for key, hint in unknown_keys(data, model):
        line = _line_of(text, key)
        where = f"{path}:{line}" if line else str(path)
        raise UnknownSettingError(f"{where}: unknown setting {key!r}{_suggest(hint)}")


def check_environ(environ: Mapping[str, str], model: type[BaseModel]) -> None:
    """Raise :class:`UnknownSettingError` for a ``SEISMOWATCH_*`` variable no setting reads.

    >>> from config.settings import Settings
    >>> try:
    ...     check_environ({"SEISMOWATCH_ALERTS__HORIZON": "2"}, Settings)
    ... except UnknownSettingError as exc:
    ...     print(str(exc).split("; ")[1])
    did you mean 'alerts.horizon_h' (SEISMOWATCH_ALERTS__HORIZON_H)?
    """
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        if rest.upper() in NOT_SETTINGS or not rest:
            continue
        for key, hint in unknown_keys(nest([(rest, "…")], "__"), model):
            suggestion = f"; did you mean {hint!r} ({env_name(hint)})?" if hint else ""
            raise UnknownSettingError(
                f"environment variable {name}: unknown setting {key!r}{suggestion}"
            )


def nest(pairs: Iterable[tuple[str, Any]], sep: str = ".") -> dict[str, Any]:
    """Nested dicts from ``sep``-joined keys: how flags and variables name nested settings.

    >>> nest([("alerts.horizon_h", 8), ("alerts.hysteresis", 0.1), ("partitions", 3)])
    {'alerts': {'horizon_h': 8, 'hysteresis': 0.1}, 'partitions': 3}
    """
    out: dict[str, Any] = {}
    for key, value in pairs:
        target = out
        *parents, leaf = key.split(sep)
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return out


def env_name(dotted: str) -> str:
    """The variable that sets a dotted setting.

    >>> env_name("alerts.horizon_h")
    'SEISMOWATCH_ALERTS__HORIZON_H'
    """
    return ENV_PREFIX + dotted.replace(".", "__").upper()


def unknown_keys(
    data: Mapping[str, Any], model: type[BaseModel], prefix: str = ""
) -> Iterator[tuple[str, str | None]]:
    """(dotted key, closest valid dotted key or None) for every key ``model`` lacks.

    >>> from config.settings import Settings
    >>> list(unknown_keys({"alerts": {"target_energy": 1e5}}, Settings))
    [('alerts.target_energy', 'alerts.target_energy_j')]
    """
    fields = model.model_fields
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.6)
            yield prefix + key, (prefix + close[0]) if close else None
            continue
        sub, many = _submodel(fields[key].annotation)
        if sub is None:
            continue
        if not many and isinstance(value, Mapping):
            yield from unknown_keys(value, sub, f"{prefix}{key}.")
        elif many and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    yield from unknown_keys(item, sub, f"{prefix}{key}[{i}].")


def _submodel(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds, and whether it holds a list of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if get_origin(annotation) is list:
        (arg,) = get_args(annotation) or (None,)
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg, True
    return None, False


def _suggest(hint: str | None) -> str:
    return f"; did you mean {hint!r}?" if hint else ""


def _line_of(text: str, dotted: str) -> int | None:
    """The line where ``dotted``'s last part is assigned inside its table, if found."""
    *tables, leaf = re.sub(r"\[\d+\]", "", dotted).split(".")
    section = ".".join(tables)
    current = ""
    assign = re.compile(rf"^\s*{re.escape(leaf)}\s*=")
    header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*$")
    for number, line in enumerate(text.splitlines(), start=1):
        m = header.match(line)
        if m:
            current = m.group(1)
            if not tables and current == leaf:
                return number  # an unknown table
            continue
        if current == section and assign.match(line):
            return number
    return None


def explain(
    errors: list[dict[str, Any]], toml: Path | None, environ: Mapping[str, str],
    flags: Mapping[str, str],
) -> str:
    """One line per invalid value, naming where the user set it: the flag, the
    variable, or the file and line (``flags`` maps dotted keys to option names)."""
    text = toml.read_text(encoding="utf-8") if toml is not None else ""
    lines = []
    for err in errors:
        dotted = ".".join(str(p) for p in err.get("loc", ()) if not str(p).isdigit())
        env, top = env_name(dotted), env_name(dotted.split(".")[0])
        if dotted in flags:
            where = flags[dotted]
        elif env in environ or top in environ:
            where = f"environment variable {env if env in environ else top}"
        elif toml is not None and (line := _line_of(text, dotted)):
            where = f"{toml}:{line}"
        else:
            where = f"setting {dotted!r}" if dotted else "settings"
        lines.append(f"{where}: {err.get('msg', 'invalid value')} (got {err.get('input')!r})")
    return "; ".join(lines)
