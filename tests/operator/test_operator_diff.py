"""Comparing rendered and live objects: only owned fields count, and the patch fixes exactly those."""

from __future__ import annotations

import copy
from typing import Any

from tiergate_api.modeltier import ModelTier
from tiergate_operator.diff import controller_uid, differences, merge_patch
from tiergate_operator.render import render
from tiergate_operator.settings import OperatorConfig


def deployment(**vllm: Any) -> dict[str, Any]:
    tier = ModelTier.model_validate(
        {
            "apiVersion": "tiergate.io/v1alpha1",
            "kind": "ModelTier",
            "metadata": {"name": "small", "namespace": "default", "uid": "tier-uid"},
            "spec": {"model": "m", "size": "1B", "vllm": {"gpu": {"count": 1}, **vllm}},
        }
    )
    manifest = render(tier, OperatorConfig()).deployment
    assert manifest is not None
    return manifest


def as_served(manifest: dict[str, Any]) -> dict[str, Any]:
    """The object as a real API server returns it: defaults added, quantities canonical."""
    live = copy.deepcopy(manifest)
    live["metadata"].update(uid="dep-uid", resourceVersion="42", generation=1, creationTimestamp="2025-01-01T00:00:00Z")
    live["metadata"]["labels"]["team"] = "ml"  # someone else's label
    live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "1"
    spec = live["spec"]
    spec["revisionHistoryLimit"] = 10
    pod = spec["template"]["spec"]
    pod.update(dnsPolicy="ClusterFirst", restartPolicy="Always", schedulerName="default-scheduler")
    container = pod["containers"][0]
    container.update(terminationMessagePath="/dev/termination-log", terminationMessagePolicy="File")
    limits = container["resources"].setdefault("limits", {})
    limits["memory"] = "16384Mi"  # rendered as 16Gi
    live["status"] = {"readyReplicas": 1}
    return live


def test_an_object_as_served_is_in_sync_despite_defaults_and_canonical_quantities() -> None:
    desired = deployment(resources={"limits": {"memory": "16Gi"}})
    assert differences(desired, as_served(desired)) == []


def test_a_changed_owned_field_is_found_and_patched_with_a_precondition() -> None:
    desired = deployment(replicas=3)
    live = as_served(deployment(replicas=1))
    changed = differences(desired, live)
    assert "spec.replicas" in changed
    patch = merge_patch(desired, live)
    assert patch["spec"]["replicas"] == 3
    assert patch["metadata"]["resourceVersion"] == "42"
    assert "selector" not in patch["spec"]  # immutable: never sent


def test_extra_node_selector_keys_are_drift_and_the_patch_removes_them() -> None:
    desired = deployment(nodePool={"nodeSelector": {"pool": "a"}})
    live = as_served(desired)
    live["spec"]["template"]["spec"]["nodeSelector"]["sneaky"] = "yes"
    assert differences(desired, live) == ["spec.template.spec.nodeSelector"]
    assert merge_patch(desired, live)["spec"]["template"]["spec"]["nodeSelector"] == {"sneaky": None, "pool": "a"}


def test_a_node_pool_removed_from_the_spec_is_removed_from_the_pods() -> None:
    desired = deployment(gpu={"count": 0})
    pool = {"nodeSelector": {"pool": "a"}, "tolerations": [{"key": "k", "operator": "Exists"}]}
    live = as_served(deployment(nodePool=pool))
    assert {"spec.template.spec.nodeSelector", "spec.template.spec.tolerations"} <= set(differences(desired, live))
    pod_patch = merge_patch(desired, live)["spec"]["template"]["spec"]
    assert pod_patch["nodeSelector"] is None and pod_patch["tolerations"] is None


def test_labels_of_others_are_not_drift_but_a_missing_owner_reference_is() -> None:
    desired = deployment()
    live = as_served(desired)
    live["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Thing", "name": "x", "uid": "other"}]
    assert differences(desired, live) == ["metadata.ownerReferences"]
    refs = merge_patch(desired, live)["metadata"]["ownerReferences"]
    assert [ref["uid"] for ref in refs] == ["other", "tier-uid"]


def test_an_edited_container_is_drift() -> None:
    desired = deployment()
    live = as_served(desired)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "evil:latest"
    live["spec"]["template"]["spec"]["containers"][0]["args"].append("--trust-remote-code")
    assert set(differences(desired, live)) == {
        "spec.template.spec.containers.0.image",
        "spec.template.spec.containers.0.args",
    }


def test_controller_uid() -> None:
    live = as_served(deployment())
    assert controller_uid(live) == "tier-uid"
    live["metadata"]["ownerReferences"][0]["controller"] = False
    assert controller_uid(live) is None
