"""A Lambda conflict handler for the Todo API, written to AppSync's contract (newItem, existingItem, arguments,
resolver, identity in; action RESOLVE with an item, REJECT or REMOVE out): a stale update keeps the server's name,
takes the higher priority and both tags; a stale update naming the todo "reject" is rejected."""

from typing import Any


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    new, existing = event["newItem"], event["existingItem"]
    if new is None:
        return {"action": "REMOVE"}
    if new.get("name") == "reject":
        return {"action": "REJECT"}
    resolver = event["resolver"]
    merged = {**existing,
              "priority": max(new.get("priority") or 0, existing.get("priority") or 0),
              "tags": sorted(set(existing.get("tags") or []) | set(new.get("tags") or [])),
              "description": f"resolved by {resolver['parentType']}.{resolver['field']} for version "
                             f"{event['arguments']['input']['_version']}"}
    return {"action": "RESOLVE", "item": merged}
