"""Request path parsing, including the cluster-scoped core paths kmock 0.8 misreads."""

from __future__ import annotations

import pytest

from harness.paths import ApiPath, parse_path


@pytest.mark.parametrize(("path", "expected"), [
    ("/api/v1/namespaces", ApiPath("", "v1", "namespaces")),
    ("/api/v1/namespaces/default", ApiPath("", "v1", "namespaces", None, "default")),
    ("/api/v1/namespaces/default/status", ApiPath("", "v1", "namespaces", None, "default", "status")),
    ("/api/v1/namespaces/default/finalize", ApiPath("", "v1", "namespaces", None, "default", "finalize")),
    ("/api/v1/namespaces/default/configmaps", ApiPath("", "v1", "configmaps", "default")),
    ("/api/v1/namespaces/default/configmaps/a", ApiPath("", "v1", "configmaps", "default", "a")),
    ("/api/v1/configmaps", ApiPath("", "v1", "configmaps")),
    ("/api/v1/nodes/n1", ApiPath("", "v1", "nodes", None, "n1")),
    ("/apis/apps/v1/namespaces/ns/deployments/d/status", ApiPath("apps", "v1", "deployments", "ns", "d", "status")),
    ("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.y",
     ApiPath("apiextensions.k8s.io", "v1", "customresourcedefinitions", None, "x.y")),
    ("/apis/apps/v1", ApiPath("apps", "v1")),
    ("/apis/apps", ApiPath("apps")),
    ("/api/v1", ApiPath("", "v1")),
    ("/api", ApiPath()),
    ("/apis", ApiPath()),
    ("/version", ApiPath()),
])
def test_parses_api_paths(path: str, expected: ApiPath) -> None:
    assert parse_path(path) == expected
