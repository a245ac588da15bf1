#!/usr/bin/env python3
"""Records what `sui client publish --json` created for the k3s_daas package.

Writes OUT/chain.env (shell variables) and renders each template into OUT,
setting the chain keys of its `sui:` section. Used by
deploy/1-sui-contracts-deploy.sh; standard library only.
"""

import argparse
import json
import pathlib
import re
import sys

# Object type suffix -> variable in chain.env.
OBJECTS = {
    "::staking::StakePool": "STAKE_POOL_ID",
    "::staking::AdminCap": "ADMIN_CAP_ID",
    "::staking::SlasherCap": "SLASHER_CAP_ID",
    "::enclave::EnclaveCap": "ENCLAVE_CAP_ID",
}
ID = re.compile(r"^0x[0-9a-fA-F]{1,64}$")


def fail(message):
    sys.exit(f"record_ids.py: error: {message}")


def ids_of(publish):
    """The package id, the digest and every object of OBJECTS."""
    changes = publish.get("objectChanges")
    if not isinstance(changes, list):
        fail("the publish output has no objectChanges list (was it `sui client publish --json`?)")
    ids = {"PUBLISH_DIGEST": str(publish.get("digest", ""))}
    for change in changes:
        if not isinstance(change, dict):
            continue
        if change.get("type") == "published":
            ids["PACKAGE_ID"] = change.get("packageId", "")
        elif change.get("type") == "created":
            for suffix, name in OBJECTS.items():
                if str(change.get("objectType", "")).endswith(suffix):
                    ids[name] = change.get("objectId", "")
    for name in ["PACKAGE_ID", *OBJECTS.values()]:
        if not ID.match(str(ids.get(name, ""))):
            fail(f"the publish output names no valid {name} (found {ids.get(name)!r})")
    return ids


def render(template, values):
    """The template with the given keys of its `sui:` section replaced."""
    lines, section = [], None
    for line in template.splitlines():
        top = re.match(r"^([A-Za-z_]+):", line)
        if top:
            section = top.group(1)
        key = re.match(r"^(\s+)([a-z_]+):(\s*)(\"[^\"]*\"|\S+)(.*)$", line)
        if section == "sui" and key and key.group(2) in values:
            indent, name, space, _, rest = key.groups()
            line = f'{indent}{name}:{space or " "}"{values[name]}"{rest}'
        lines.append(line)
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--network", required=True)
    parser.add_argument("--rpc", required=True)
    parser.add_argument("--publish-json", required=True, type=pathlib.Path)
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--template", action="append", default=[], type=pathlib.Path)
    args = parser.parse_args()
    try:
        publish = json.loads(args.publish_json.read_text())
    except (OSError, json.JSONDecodeError) as error:
        fail(f"cannot read {args.publish_json}: {error}")
    if not isinstance(publish, dict):
        fail(f"{args.publish_json} is not a JSON object")
    ids = ids_of(publish)
    args.out.mkdir(parents=True, exist_ok=True)
    env = "".join(f"{name}={value}\n" for name, value in sorted(ids.items()))
    (args.out / "chain.env").write_text(f"NETWORK={args.network}\nRPC_URL={args.rpc}\n{env}")
    values = {
        "profile": args.network,
        "rpc_endpoint": args.rpc,
        "package_id": ids["PACKAGE_ID"],
        "staking_contract": ids["PACKAGE_ID"],
        "stake_pool_id": ids["STAKE_POOL_ID"],
        "stake_pool": ids["STAKE_POOL_ID"],
    }
    for template in args.template:
        if not template.is_file():
            print(f"record_ids.py: no template {template}; skipped", file=sys.stderr)
            continue
        (args.out / template.name).write_text(render(template.read_text(), values))
        print(f"record_ids.py: wrote {args.out / template.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
