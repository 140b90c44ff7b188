"""The emulated API server's objects and the Kubernetes semantics of writing them.

kmock's `KubernetesEmulator` keeps objects as plain JSON merged on PATCH.
This store keeps them in the same place (`kmock.ObjectsArray`, so every
object's history stays assertable the kmock way) and adds what our code relies
on from a real API server:

- `metadata.uid`, `creationTimestamp`, `generation` (1, then bumped on changes
  outside `metadata`, and outside `status` where there is a status subresource),
  `generateName`, and one global `resourceVersion` counter rendered as strings;
- the `status` subresource: `/status` writes change only `.status`, other writes
  keep the stored `.status`; no-op writes change nothing (no new version, no event);
- the `scale` subresource of Deployments (`scale.py`): reads and writes of `spec.replicas`;
- optimistic concurrency: a stale `metadata.resourceVersion` answers 409 Conflict;
- admission of custom resources (pruning, defaults, schema and CEL, see `admission.py`);
- finalizers: DELETE only sets `deletionTimestamp` while finalizers remain;
  removing the last one removes the object;
- garbage collection by `ownerReferences[].uid`, cascading, synchronously (a real
  cluster's collector is asynchronous; tests get determinism instead);
- `?dryRun=All`: a write runs every check and returns its result without storing it;
- server-side apply with field ownership in `metadata.managedFields` (`apply.py`);
- CRDs: creating one serves its resource, deleting one removes its objects;
  deleting a Namespace deletes what is in it;
- watch events into a bounded log (`watching.py`) that watches resume from.

All methods must run on the emulator's event loop thread (`runtime.py` marshals
calls from tests); no write awaits anything, so each write is atomic.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import random
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import kmock

from harness import apply as server_side_apply
from harness import errors
from harness.admission import Admission
from harness.errors import FieldError
from harness.patching import APPLY_PATCH, PatchError, apply_patch
from harness.resources import CRD_RESOURCE, NAMESPACE_RESOURCE, ResourceRegistry, ResourceType, resource_types_from_crd
from harness.scale import requested_replicas, scale_of
from harness.watching import EventLog, WatchEvent, WatchFilter, initial_events_end

# Kept from the stored object on every update of the main resource.
SYSTEM_METADATA = ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                   "deletionGracePeriodSeconds", "generation", "resourceVersion")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's: no vowels, no look-alikes


def now() -> str:
    """A timestamp in the API's format (RFC 3339, seconds, UTC)."""
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ObjectStore:
    """Objects by (resource, namespace, name) with the write semantics described above."""

    def __init__(self, objects: kmock.ObjectsArray, registry: ResourceRegistry, *,
                 admission: Admission | None = None, event_window: int = 10_000) -> None:
        self._objects = objects
        self._registry = registry
        self._admission = admission or Admission()
        self._rv = 0
        self._log = EventLog(window=event_window)
        self._dry_run = False

    @contextlib.contextmanager
    def dry_run(self, enabled: bool = True) -> Iterator[None]:
        """Within it, writes are checked and answered but neither stored nor watched (`?dryRun=All`)."""
        previous, self._dry_run = self._dry_run, enabled
        try:
            yield
        finally:
            self._dry_run = previous

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    @property
    def admission(self) -> Admission:
        return self._admission

    # -- reading ------------------------------------------------------------------------------

    def find(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = (rtype.key, namespace if rtype.namespaced else None, name)
        if key not in self._objects or self._objects[key].deleted:
            return None
        return copy.deepcopy(self._objects[key].raw)

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        found = self.find(rtype, namespace, name)
        if found is None:
            raise errors.not_found(rtype, name)
        return found

    def select(self, selection: WatchFilter) -> list[dict[str, Any]]:
        """The live objects a list or a watch's initial state shows, ordered by namespace and name."""
        found = [obj for obj in self._live(selection.rtype) if selection.sees(obj)]
        found.sort(key=lambda obj: (obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))
        return found

    def history(self, rtype: ResourceType, namespace: str | None, name: str) -> list[dict[str, Any] | None]:
        """Every stored version of an object, oldest first; None marks a deletion."""
        key = (rtype.key, namespace if rtype.namespaced else None, name)
        if key not in self._objects:
            return []
        return [None if version is None else copy.deepcopy(version.raw)
                for version in self._objects[key].history]

    def _live(self, rtype: ResourceType | None = None) -> Iterator[dict[str, Any]]:
        for (resource, _, _), obj in list(self._objects.items()):
            if (rtype is None or resource == rtype.key) and not obj.deleted:
                yield copy.deepcopy(obj.raw)

    def _live_with_types(self) -> Iterator[tuple[ResourceType, dict[str, Any]]]:
        for (resource, _, _), obj in list(self._objects.items()):
            rtype = self._registry.get(resource.group or "", resource.version or "", resource.plural or "")
            if rtype is not None and not obj.deleted:
                yield rtype, copy.deepcopy(obj.raw)

    # -- writing ------------------------------------------------------------------------------

    def create(self, rtype: ResourceType, namespace: str | None, body: Any, *,
               managed_fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        obj = self._as_object(rtype, body)
        meta = obj["metadata"]
        namespace = self._namespace_for(rtype, namespace, meta)
        if meta.get("resourceVersion"):
            raise errors.internal("resourceVersion should not be set on objects to be created")
        name = meta.get("name") or self._generate_name(rtype, namespace, meta.get("generateName"))
        if not name:
            raise errors.invalid(rtype, "", [FieldError("metadata.name", "Required value",
                                                        "name or generateName is required")])
        meta["name"] = name
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                    "generation", "selfLink", "managedFields"):
            meta.pop(key, None)
        if managed_fields:
            meta["managedFields"] = managed_fields
        if rtype.has_status:
            obj.pop("status", None)

        self._admission.prepare(rtype, obj)
        self._admission.check(rtype, obj, None)
        if self.find(rtype, namespace, name) is not None:
            raise errors.already_exists(rtype, name)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
        created = self._commit(rtype, "ADDED", obj, None)
        if rtype == CRD_RESOURCE and not self._dry_run:
            self._serve_crd(created, None)
            created = self._establish_crd(created)
        return created

    def replace(self, rtype: ResourceType, namespace: str | None, name: str, body: Any, *,
                subresource: str | None = None) -> dict[str, Any]:
        old = self.get(rtype, namespace, name)
        new = self._as_object(rtype, body)
        meta = new["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name "
                                     f"on the URL ({name})")
        if rtype.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                     "sent on the request")
        if meta.get("resourceVersion") and meta["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype, name)
        return self._update(rtype, old, new, status_only=subresource == "status")

    def patch(self, rtype: ResourceType, namespace: str | None, name: str, patch: Any,
              content_type: str, *, subresource: str | None = None, field_manager: str | None = None,
              force: bool = False) -> tuple[dict[str, Any], bool]:
        """Apply a decoded patch; returns the result and whether it created the object (apply)."""
        if content_type == APPLY_PATCH and subresource is None:
            return self.apply(rtype, namespace, name, patch, field_manager=field_manager, force=force)
        old = self.find(rtype, namespace, name)
        if old is None:
            raise errors.not_found(rtype, name)
        try:
            candidate = apply_patch(old, patch, content_type)
        except PatchError as e:
            raise errors.invalid(rtype, name, [FieldError("", "Invalid value", str(e))]) from e
        candidate_meta = candidate.get("metadata") if isinstance(candidate.get("metadata"), dict) else {}
        if candidate_meta.get("resourceVersion", old["metadata"]["resourceVersion"]) != \
                old["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype, name)
        return self._update(rtype, old, candidate, status_only=subresource == "status"), False

    def apply(self, rtype: ResourceType, namespace: str | None, name: str, config: Any, *,
              field_manager: str | None, force: bool = False) -> tuple[dict[str, Any], bool]:
        """Server-side apply of `config` by `field_manager`; returns the result and whether it was created."""
        if not field_manager:
            raise errors.invalid_options("fieldManager", "is required for apply patch")
        if not isinstance(config, dict):
            raise errors.bad_request("the applied configuration must be an object")
        body = self._as_object(rtype, config)
        old = self.find(rtype, namespace, name)
        try:
            result = server_side_apply.apply(old, body, rtype.schema, manager=field_manager,
                                             api_version=rtype.api_version, force=force, timestamp=now())
        except server_side_apply.ApplyConflicts as e:
            raise errors.apply_conflicts(rtype, name, e.message, [(c.manager, c.field) for c in e.conflicts]) from e
        if old is None:
            result["metadata"]["name"] = name
            return self.create(rtype, namespace, result, managed_fields=result["metadata"]["managedFields"]), True
        return self._update(rtype, old, result, status_only=False), False

    def set_status(self, rtype: ResourceType, namespace: str | None, name: str,
                   status: Any) -> dict[str, Any]:
        """Write `.status` as a controller would through the status subresource."""
        old = self.get(rtype, namespace, name)
        return self._update(rtype, old, {**old, "status": status}, status_only=True)

    def get_scale(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        """The `Scale` of an object (GET of its `scale` subresource)."""
        return scale_of(self.get(rtype, namespace, name))

    def update_scale(self, rtype: ResourceType, namespace: str | None, name: str, scale: Any) -> dict[str, Any]:
        """Write `spec.replicas` from a `Scale` (PUT of the `scale` subresource); returns the new `Scale`."""
        old = self.get(rtype, namespace, name)
        replicas = requested_replicas(rtype, old, scale)
        new = copy.deepcopy(old)
        new.setdefault("spec", {})["replicas"] = replicas
        return scale_of(self._update(rtype, old, new, status_only=False))

    def patch_scale(self, rtype: ResourceType, namespace: str | None, name: str, patch: Any,
                    content_type: str) -> dict[str, Any]:
        """Patch the `Scale` of an object; only its `spec.replicas` (and a resourceVersion precondition) count."""
        current = self.get_scale(rtype, namespace, name)
        try:
            candidate = apply_patch(current, patch, content_type)
        except PatchError as e:
            raise errors.invalid(rtype, name, [FieldError("", "Invalid value", str(e))]) from e
        return self.update_scale(rtype, namespace, name, candidate)

    def delete(self, rtype: ResourceType, namespace: str | None, name: str, *,
               propagation: str | None = None,
               preconditions: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
        """Delete or mark for deletion; returns the object and whether it is gone already."""
        old = self.get(rtype, namespace, name)
        meta = old["metadata"]
        for key in ("uid", "resourceVersion"):
            wanted = (preconditions or {}).get(key)
            if wanted and wanted != meta.get(key):
                raise errors.conflict(rtype, name, f"Precondition failed: {key} in precondition: "
                                                   f"{wanted}, {key} in object meta: {meta.get(key)}")
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return old, False
            new = copy.deepcopy(old)
            new["metadata"].update(deletionTimestamp=now(), deletionGracePeriodSeconds=0,
                                   generation=meta.get("generation", 1) + 1)
            return self._commit(rtype, "MODIFIED", new, old), False
        return self._remove(rtype, old, propagation), True

    def delete_collection(self, selection: WatchFilter) -> list[dict[str, Any]]:
        rtype = selection.rtype
        return [self.delete(rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"])[0]
                for obj in self.select(selection)]

    # -- the update path shared by PUT, PATCH and /status ------------------------------------

    def _update(self, rtype: ResourceType, old: dict[str, Any], candidate: dict[str, Any], *,
                status_only: bool) -> dict[str, Any]:
        if status_only:
            new = copy.deepcopy(old)
            if "status" in candidate:
                new["status"] = copy.deepcopy(candidate["status"])
            else:
                new.pop("status", None)
        else:
            new = self._as_object(rtype, candidate)
            self._keep_system_fields(rtype, old, new)

        self._admission.prepare(rtype, new)
        self._admission.check(rtype, new, old)
        if not status_only and self._spec_of(rtype, new) != self._spec_of(rtype, old):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        if new == old:
            return old  # a no-op: no new resourceVersion, no watch event, as on a real server
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._remove(rtype, new)
        updated = self._commit(rtype, "MODIFIED", new, old)
        if rtype == CRD_RESOURCE and not status_only and not self._dry_run:
            self._serve_crd(updated, old)
        return updated

    @staticmethod
    def _keep_system_fields(rtype: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
        old_meta, meta = old["metadata"], new["metadata"]
        for key in SYSTEM_METADATA:
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta.pop("selfLink", None)
        if "managedFields" not in meta and old_meta.get("managedFields"):
            meta["managedFields"] = old_meta["managedFields"]  # kept unless a write sets them
        elif not meta.get("managedFields"):
            meta.pop("managedFields", None)
        if rtype.has_status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        if old_meta.get("deletionTimestamp"):
            added = [f for f in meta.get("finalizers") or [] if f not in (old_meta.get("finalizers") or [])]
            if added:
                listed = ", ".join(f'"{f}"' for f in added)
                raise errors.invalid(rtype, old_meta["name"], [FieldError(
                    "metadata.finalizers", "Forbidden",
                    f"no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers []string{{{listed}}}")])

    @staticmethod
    def _spec_of(rtype: ResourceType, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Everything whose change bumps `metadata.generation`."""
        skipped = {"apiVersion", "kind", "metadata"} | ({"status"} if rtype.has_status else set())
        return {key: value for key, value in obj.items() if key not in skipped}

    # -- committing, removing, collecting garbage --------------------------------------------

    def _commit(self, rtype: ResourceType, event_type: str, obj: dict[str, Any],
                old: dict[str, Any] | None) -> dict[str, Any]:
        if self._dry_run:
            return copy.deepcopy(obj)
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        key = (rtype.key, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if key in self._objects:
            self._objects[key].history.append(copy.deepcopy(obj))
        else:
            self._objects[key] = copy.deepcopy(obj)
        self._log.append(WatchEvent(self._rv, event_type, self._resource_of(rtype), copy.deepcopy(obj), old))
        return copy.deepcopy(obj)

    def _remove(self, rtype: ResourceType, obj: dict[str, Any], propagation: str | None = None) -> dict[str, Any]:
        if self._dry_run:
            return copy.deepcopy(obj)
        key = (rtype.key, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        stored = self._objects[key]
        before = copy.deepcopy(stored.raw)
        self._rv += 1
        final = copy.deepcopy(obj)
        final["metadata"]["resourceVersion"] = str(self._rv)
        if {**obj, "metadata": {**obj["metadata"], "resourceVersion": None}} != \
                {**before, "metadata": {**before["metadata"], "resourceVersion": None}}:
            stored.history.append(copy.deepcopy(final))  # e.g. the last finalizer just removed
        stored.delete()
        self._log.append(WatchEvent(self._rv, "DELETED", self._resource_of(rtype), copy.deepcopy(final), before))

        if rtype == CRD_RESOURCE:
            self._serve_crd(None, final)
        elif rtype == NAMESPACE_RESOURCE:
            self._empty_namespace(final["metadata"]["name"])
        self._collect_garbage(final["metadata"].get("uid"), orphan=propagation == "Orphan")
        return final

    def _collect_garbage(self, owner_uid: str | None, *, orphan: bool) -> None:
        """Delete (or orphan) the dependents of a removed owner, as the garbage collector does."""
        if not owner_uid:
            return
        existing = {obj["metadata"].get("uid") for _, obj in self._live_with_types()}
        for rtype, obj in list(self._live_with_types()):
            refs = obj["metadata"].get("ownerReferences") or []
            if not any(ref.get("uid") == owner_uid for ref in refs):
                continue
            namespace, name = obj["metadata"].get("namespace"), obj["metadata"]["name"]
            remaining = [ref for ref in refs if ref.get("uid") != owner_uid]
            if orphan or any(ref.get("uid") in existing for ref in remaining):
                updated = copy.deepcopy(obj)
                updated["metadata"]["ownerReferences"] = remaining
                if not remaining:
                    del updated["metadata"]["ownerReferences"]
                self._update(rtype, obj, updated, status_only=False)
            elif self.find(rtype, namespace, name) is not None:
                self.delete(rtype, namespace, name)

    def _empty_namespace(self, namespace: str) -> None:
        for rtype, obj in list(self._live_with_types()):
            name = obj["metadata"]["name"]
            inside = rtype.namespaced and obj["metadata"].get("namespace") == namespace
            if inside and self.find(rtype, namespace, name) is not None:  # not collected meanwhile
                self.delete(rtype, namespace, name)

    # -- CRDs ---------------------------------------------------------------------------------

    def _serve_crd(self, crd: dict[str, Any] | None, previous: dict[str, Any] | None) -> None:
        """Start, update or stop serving the resources of a CRD."""
        old_types = resource_types_from_crd(previous) if previous else []
        new_types = resource_types_from_crd(crd) if crd else []
        new_keys = {rtype.key for rtype in new_types}
        for rtype in old_types:
            self._admission.forget(rtype)
        gone = [rtype for rtype in old_types if rtype.key not in new_keys]
        for rtype in gone:
            for obj in list(self._live(rtype)):
                self._remove(rtype, obj)
        self._registry.remove(gone)
        self._registry.add(new_types)

    def _establish_crd(self, crd: dict[str, Any]) -> dict[str, Any]:
        spec = crd.get("spec", {})
        condition = {"status": "True", "lastTransitionTime": now()}
        status = {
            "acceptedNames": spec.get("names", {}),
            "conditions": [
                {"type": "NamesAccepted", "reason": "NoConflicts", "message": "no conflicts found", **condition},
                {"type": "Established", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", **condition},
            ],
            "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
        }
        return self._update(CRD_RESOURCE, crd, {**crd, "status": status}, status_only=True)

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _resource_of(rtype: ResourceType) -> tuple[str, str, str]:
        return (rtype.group, rtype.version, rtype.plural)

    @staticmethod
    def _as_object(rtype: ResourceType, body: Any) -> dict[str, Any]:
        """A private copy of a body with `apiVersion`, `kind` and a `metadata` dict in place."""
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if (api_version and api_version != rtype.api_version) or (kind and kind != rtype.kind):
            raise errors.bad_request(f"the API version and kind in the data ({api_version}, {kind}) do not "
                                     f"match the expected ({rtype.api_version}, {rtype.kind})")
        obj = {"apiVersion": rtype.api_version, "kind": rtype.kind,
               **{k: copy.deepcopy(v) for k, v in body.items() if k not in ("apiVersion", "kind")}}
        if obj.get("metadata") is None:
            obj["metadata"] = {}
        if not isinstance(obj["metadata"], dict):
            raise errors.bad_request("metadata must be a JSON object")
        return obj

    @staticmethod
    def _namespace_for(rtype: ResourceType, namespace: str | None, meta: dict[str, Any]) -> str | None:
        if not rtype.namespaced:
            meta.pop("namespace", None)
            return None
        if namespace and meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                     "sent on the request")
        namespace = namespace or meta.get("namespace")
        if not namespace:
            raise errors.bad_request("an empty namespace may not be set during creation")
        meta["namespace"] = namespace
        return namespace

    def _generate_name(self, rtype: ResourceType, namespace: str | None, prefix: str | None) -> str | None:
        if not prefix:
            return None
        while True:
            name = prefix + "".join(random.choices(_GENERATE_ALPHABET, k=5))
            if self.find(rtype, namespace, name) is None:
                return name

    # -- watching -----------------------------------------------------------------------------

    def compact(self) -> None:
        """Forget every event so far, as etcd compaction does; older watches get 410."""
        self._log.compact(self._rv)

    def end_watches(self) -> None:
        """End every watch stream, and refuse to keep new ones open until `resume_watches()`."""
        self._log.close()

    def resume_watches(self) -> None:
        self._log.reopen()

    async def watch(self, selection: WatchFilter, *, since: int | None, send_initial: bool,
                    timeout: float | None) -> AsyncIterator[dict[str, Any]]:
        """Watch events as the API sends them; ends on timeout, compaction or `end_watches()`.

        Without `since`, the stream starts with the current objects as ADDED (and a
        bookmark when `sendInitialEvents` asked for one), then continues from now.
        """
        follow = self._log.follow(selection, since=self._rv if since is None or send_initial else since,
                                  timeout=timeout)
        if since is None or send_initial:
            for obj in self.select(selection):
                yield {"type": "ADDED", "object": obj}
            if send_initial:
                yield initial_events_end(selection.rtype, self._rv)
        async for event in follow:
            yield event
