#!/usr/bin/env python3
"""Runs the migration flows of the project's two seeds through Microsoft's own Python Graph SDK
(msgraph-sdk with azure-identity) against the emulator, and prints what happened as JSON.

The SDK's request code runs unmodified: only its base URL, its credential's authority, the
hosts its auth provider may send tokens to and the CA its HTTP clients trust are configured.
Calls under /_emulator/ (move time, move an AD object out of sync scope, run a sync cycle) are
the emulator's control plane, not Graph; they go through a plain httpx client.

Flows, in the order they run (a rehearsal of seed-002 per user, then seed-001 tenant-wide):
  organization         GET /organization
  soa                  GET/PATCH /users/{id}/onPremisesSyncBehavior, then GET the user
  restore              AD object out of scope + sync cycle -> soft delete; list deleted users;
                       POST /directory/deletedItems/{id}/restore; PATCH onPremisesImmutableId
                       null; DELETE /users/{id} of a cloud-managed user and restore it too
  disable-sync         PATCH /organization/{id} onPremisesSyncEnabled=false, move emulated time
                       past the propagation, count still-synced users
  list-users           advanced query ($filter ne, $count, ConsistencyLevel), $select, small
                       $top, every page through the SDK's PageIterator
  clear-immutable-ids  PATCH onPremisesImmutableId null on every user that has one
  batch                POST /$batch through BatchRequestContent
  delta                GET /users/delta to the deltaLink, a change, then the deltaLink

Usage: flows.py --url https://127.0.0.1:PORT --ca ca.pem [--flows a,b,...]
The client secret comes from $EMULATOR_CLIENT_SECRET (never from the command line).
Exit status: 0 when every flow that ran succeeded, 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import ssl
import sys
import traceback
from typing import Any, Awaitable, Callable
from urllib.parse import urlparse

import httpx
from azure.identity import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.on_premises_sync_behavior import OnPremisesSyncBehavior
from msgraph.generated.models.organization import Organization
from msgraph.generated.models.user import User
from msgraph.generated.models.user_collection_response import UserCollectionResponse
from msgraph.generated.organization.organization_request_builder import (
    OrganizationRequestBuilder,
)
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core import GraphClientFactory
from msgraph_core.tasks.page_iterator import PageIterator

ALL_FLOWS = [
    "organization",
    "soa",
    "restore",
    "disable-sync",
    "list-users",
    "clear-immutable-ids",
    "batch",
    "delta",
]
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# Longer than any propagation the emulator is started with (real tenants: up to 72 h).
DISABLE_WAIT_SECONDS = 72 * 3600 + 60
PAGE_SIZE = 7
SDK_PACKAGES = [
    "msgraph-sdk",
    "msgraph-core",
    "azure-identity",
    "msal",
    "microsoft-kiota-abstractions",
    "microsoft-kiota-http",
    "httpx",
]


class Flows:
    """The flows and what they share: the SDK client, the control client, the log."""

    def __init__(self, args: argparse.Namespace, secret: str) -> None:
        self.url = args.url.rstrip("/")
        self.tenant = args.tenant_id
        self.requests: list[dict[str, Any]] = []
        tls = ssl.create_default_context(cafile=args.ca)
        host = urlparse(self.url).hostname or "127.0.0.1"

        # MSAL reads {authority}/{tenant}/v2.0/.well-known/openid-configuration; instance
        # discovery would ask login.microsoftonline.com about this host, so it is off.
        self.credential = ClientSecretCredential(
            tenant_id=self.tenant,
            client_id=args.client_id,
            client_secret=secret,
            authority=self.url,
            disable_instance_discovery=True,
            connection_verify=args.ca,
        )
        auth = AzureIdentityAuthenticationProvider(
            self.credential, scopes=[GRAPH_SCOPE], allowed_hosts=[host]
        )
        self.http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(
                verify=tls,
                timeout=30.0,
                event_hooks={"response": [self._log_response]},
            )
        )
        self.adapter = GraphRequestAdapter(auth, client=self.http)
        self.adapter.base_url = f"{self.url}/v1.0"
        self.client = GraphServiceClient(request_adapter=self.adapter)
        self.control = httpx.Client(base_url=f"{self.url}/_emulator", verify=tls, timeout=30.0)
        # Ids the flows hand on to each other.
        self.org_id: str | None = None
        self.soa_user: str | None = None
        self.listed: list[User] = []

    async def _log_response(self, response: httpx.Response) -> None:
        request = response.request
        self.requests.append(
            {
                "method": request.method,
                "url": str(request.url),
                "status": response.status_code,
                "requestHeaders": sorted(k.lower() for k in request.headers.keys()),
            }
        )

    def emulator(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A control-plane call (not Graph)."""
        response = self.control.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    # --- seed-002: per user ------------------------------------------------------------

    async def organization(self) -> dict[str, Any]:
        query = OrganizationRequestBuilder.OrganizationRequestBuilderGetQueryParameters(
            select=["id", "displayName", "onPremisesSyncEnabled", "verifiedDomains"]
        )
        orgs = await self.client.organization.get(RequestConfiguration(query_parameters=query))
        values = orgs.value if orgs and orgs.value else []
        if len(values) != 1:
            raise AssertionError(f"expected one organization, got {len(values)}")
        org = values[0]
        self.org_id = org.id
        return {
            "count": len(values),
            "id": org.id,
            "displayName": org.display_name,
            "onPremisesSyncEnabled": org.on_premises_sync_enabled,
            "verifiedDomains": sorted(d.name for d in org.verified_domains or []),
            "context": (orgs.additional_data or {}).get("@odata.context"),
        }

    async def synced_users(self, top: int) -> list[User]:
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter="onPremisesSyncEnabled eq true",
            select=["id", "userPrincipalName", "onPremisesSyncEnabled", "onPremisesImmutableId"],
            top=top,
        )
        page = await self.client.users.get(RequestConfiguration(query_parameters=query))
        return list(page.value or []) if page else []

    async def user(self, user_id: str) -> User | None:
        query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
            select=["id", "userPrincipalName", "onPremisesSyncEnabled", "onPremisesImmutableId"]
        )
        return await self.client.users.by_user_id(user_id).get(
            RequestConfiguration(query_parameters=query)
        )

    async def clear_immutable_id(self, user_id: str) -> None:
        # Kiota writes only the properties that are set; an explicit null goes through
        # additional_data (the SDK's documented way to send null).
        await self.client.users.by_user_id(user_id).patch(
            User(additional_data={"onPremisesImmutableId": None})
        )

    async def soa(self) -> dict[str, Any]:
        synced = await self.synced_users(top=1)
        if not synced:
            raise AssertionError("no synced user to switch")
        user_id = synced[0].id
        behaviour = self.client.users.by_user_id(user_id).on_premises_sync_behavior
        before = await behaviour.get()
        after = await behaviour.patch(OnPremisesSyncBehavior(is_cloud_managed=True))
        user = await self.user(user_id)
        self.soa_user = user_id
        return {
            "id": user_id,
            "before": before.is_cloud_managed if before else None,
            "patchReturned": after.is_cloud_managed if after else None,
            "patchOdataType": after.odata_type if after else None,
            "userSyncEnabledAfter": user.on_premises_sync_enabled if user else "missing",
        }

    async def deleted_user_ids(self) -> list[str]:
        page = await self.client.directory.deleted_items.graph_user.get()
        return [u.id for u in (page.value if page and page.value else [])]

    async def restore(self) -> dict[str, Any]:
        # seed-002: the AD object leaves the synchronised OUs; the next cycle soft-deletes
        # the cloud user; restoring it makes it cloud-managed; then the anchor is cleared.
        synced = await self.synced_users(top=2)
        candidates = [u.id for u in synced if u.id != self.soa_user]
        if not candidates:
            raise AssertionError("no synced user to move out of scope")
        moved = candidates[0]
        self.emulator("POST", f"/users/{moved}/scope", {"inScope": False})
        self.emulator("POST", "/sync/cycle")
        deleted_after_cycle = moved in await self.deleted_user_ids()
        restored = await self.client.directory.deleted_items.by_directory_object_id(
            moved
        ).restore.post()
        await self.clear_immutable_id(moved)
        after = await self.user(moved)

        # And the SDK's own DELETE, on the user switched by SOA (cloud-managed now).
        deleted_by_sdk = None
        restored_by_sdk = None
        if self.soa_user:
            await self.client.users.by_user_id(self.soa_user).delete()
            deleted_by_sdk = self.soa_user in await self.deleted_user_ids()
            back = await self.client.directory.deleted_items.by_directory_object_id(
                self.soa_user
            ).restore.post()
            restored_by_sdk = back.id if back else None
        return {
            "id": moved,
            "softDeletedByCycle": deleted_after_cycle,
            "restoredType": type(restored).__name__ if restored else None,
            "restoredOdataType": restored.odata_type if restored else None,
            "restoredId": restored.id if restored else None,
            "syncEnabledAfter": after.on_premises_sync_enabled if after else "missing",
            "immutableIdAfter": after.on_premises_immutable_id if after else "missing",
            "sdkDeleteListed": deleted_by_sdk,
            "sdkRestoredId": restored_by_sdk,
        }

    # --- seed-001: tenant-wide ---------------------------------------------------------

    async def count_synced(self) -> int | None:
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter="onPremisesSyncEnabled eq true", count=True, select=["id"], top=1
        )
        config = RequestConfiguration(query_parameters=query)
        config.headers.add("ConsistencyLevel", "eventual")
        page = await self.client.users.get(config)
        return page.odata_count if page else None

    async def disable_sync(self) -> dict[str, Any]:
        if not self.org_id:
            await self.organization()
        assert self.org_id
        synced_before = await self.count_synced()
        await self.client.organization.by_organization_id(self.org_id).patch(
            Organization(on_premises_sync_enabled=False)
        )
        org = await self.client.organization.by_organization_id(self.org_id).get()
        state = self.emulator("POST", "/time/advance", {"seconds": DISABLE_WAIT_SECONDS})
        synced_after = await self.count_synced()
        return {
            "syncedBefore": synced_before,
            "orgSyncEnabledRightAfter": org.on_premises_sync_enabled if org else "missing",
            "emulatorSyncState": state["organization"]["syncState"],
            "syncedAfter": synced_after,
        }

    async def list_users(self) -> dict[str, Any]:
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter="onPremisesSyncEnabled ne true",
            count=True,
            select=["id", "userPrincipalName", "onPremisesSyncEnabled", "onPremisesImmutableId"],
            top=PAGE_SIZE,
        )
        config = RequestConfiguration(query_parameters=query)
        config.headers.add("ConsistencyLevel", "eventual")
        logged = len(self.requests)
        first = await self.client.users.get(config)
        if first is None:
            raise AssertionError("no first page")
        users: list[User] = []

        def collect(user: User) -> bool:
            users.append(user)
            return True

        iterator = PageIterator(first, self.adapter)
        # Graph wants the advanced-query header on every page, nextLinks included.
        # (PageIterator.set_headers() passes the dict as keyword arguments to
        # HeadersCollection.add_all(), which takes none: msgraph-core 1.5.2 bug, so the
        # iterator's public header collection is set directly.)
        iterator.headers.add("ConsistencyLevel", "eventual")
        await iterator.iterate(collect)
        self.listed = users
        # The pages as they went out (observed by the HTTP client's response hook).
        pages = [
            r for r in self.requests[logged:]
            if r["method"] == "GET" and urlparse(r["url"]).path.endswith("/users")
        ]
        ids = [u.id for u in users]
        return {
            "count": first.odata_count,
            "items": len(users),
            "distinct": len(set(ids)),
            "pages": len(pages),
            "pageStatuses": sorted({r["status"] for r in pages}),
            "firstPageSize": len(first.value or []),
            "nextLinksFollowed": sum(1 for r in pages if "skiptoken" in r["url"].lower()),
            "allHttps": all(r["url"].startswith("https://") for r in pages),
            "withImmutableId": sum(1 for u in users if u.on_premises_immutable_id),
            "syncEnabledValues": sorted({str(u.on_premises_sync_enabled) for u in users}),
        }

    async def clear_immutable_ids(self) -> dict[str, Any]:
        if not self.listed:
            await self.list_users()
        targets = [u.id for u in self.listed if u.on_premises_immutable_id]
        for user_id in targets:
            await self.clear_immutable_id(user_id)
        remaining = 0
        for user_id in targets[:3]:
            user = await self.user(user_id)
            remaining += 1 if user and user.on_premises_immutable_id else 0
        return {"cleared": len(targets), "remainingAmongChecked": remaining}

    # --- $batch and delta (graph-api.md §6, §7) ----------------------------------------

    async def batch(self) -> dict[str, Any]:
        from msgraph_core.requests.batch_request_content import BatchRequestContent
        from msgraph_core.requests.batch_request_item import BatchRequestItem

        users = await self.client.users.get(
            RequestConfiguration(
                query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
                    select=["id"], top=2
                )
            )
        )
        ids = [u.id for u in (users.value if users and users.value else [])]
        org_info = self.client.organization.to_get_request_information()
        user_info = self.client.users.by_user_id(ids[0]).to_get_request_information()
        patch_info = self.client.users.by_user_id(ids[-1]).to_patch_request_information(
            User(job_title="Migration rehearsal")
        )
        content = BatchRequestContent()
        org_item = BatchRequestItem(request_information=org_info, id="1")
        content.add_request("1", org_item)
        content.add_request("2", BatchRequestItem(request_information=user_info, id="2"))
        content.add_request(
            "3", BatchRequestItem(request_information=patch_info, id="3", depends_on=[org_item])
        )
        response = await self.client.batch.post(batch_request_content=content)
        statuses = response.get_response_status_codes()
        return {"statuses": {k: int(v) for k, v in sorted(statuses.items())}}

    async def delta(self) -> dict[str, Any]:
        from msgraph.generated.users.delta.delta_request_builder import DeltaRequestBuilder

        query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            select=["id", "displayName", "jobTitle", "onPremisesSyncEnabled"]
        )
        page = await self.client.users.delta.get(RequestConfiguration(query_parameters=query))
        seen = 0
        pages = 0
        while page is not None:
            pages += 1
            seen += len(page.value or [])
            if not page.odata_next_link:
                break
            page = await self.client.users.delta.with_url(page.odata_next_link).get()
        delta_link = page.odata_delta_link if page else None
        if not delta_link:
            raise AssertionError("the last delta page has no deltaLink")
        changed = self.listed[0].id if self.listed else None
        if changed is None:
            first = await self.synced_users(top=1)
            changed = first[0].id if first else None
        if changed is None:
            raise AssertionError("no user to change")
        await self.client.users.by_user_id(changed).patch(User(job_title="Delta rehearsal"))
        round2 = await self.client.users.delta.with_url(delta_link).get()
        changed_ids = [u.id for u in (round2.value if round2 and round2.value else [])]
        return {
            "initialPages": pages,
            "initialObjects": seen,
            "deltaLinkHttps": delta_link.startswith("https://"),
            "changedSeen": changed in changed_ids,
            "secondRoundObjects": len(changed_ids),
            "secondRoundDeltaLink": bool(round2 and round2.odata_delta_link),
        }


def versions() -> dict[str, str]:
    found = {}
    for name in SDK_PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def describe(error: BaseException) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(error).__name__, "message": str(error)[:2000]}
    code = getattr(getattr(error, "error", None), "code", None)
    if code:
        out["code"] = code
        out["graphMessage"] = getattr(error.error, "message", None)  # type: ignore[attr-defined]
    status = getattr(error, "response_status_code", None)
    if status:
        out["status"] = status
    out["trace"] = traceback.format_exception(error)[-6:]
    return out


async def run(args: argparse.Namespace, secret: str) -> dict[str, Any]:
    flows = Flows(args, secret)
    steps: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "organization": flows.organization,
        "soa": flows.soa,
        "restore": flows.restore,
        "disable-sync": flows.disable_sync,
        "list-users": flows.list_users,
        "clear-immutable-ids": flows.clear_immutable_ids,
        "batch": flows.batch,
        "delta": flows.delta,
    }
    results: dict[str, Any] = {}
    ok = True
    for name in ALL_FLOWS:
        if name not in args.flows:
            continue
        try:
            results[name] = {"ok": True, **await steps[name]()}
        except Exception as error:  # noqa: BLE001 - every failure is reported, then the next flow runs
            ok = False
            results[name] = {"ok": False, "error": describe(error)}
    flows.control.close()
    await flows.http.aclose()
    return {"ok": ok, "versions": versions(), "flows": results, "requests": flows.requests}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the emulator, https://127.0.0.1:PORT")
    parser.add_argument("--ca", required=True, help="the emulator's CA certificate (PEM)")
    parser.add_argument("--tenant-id", default="3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b")
    parser.add_argument("--client-id", default="0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e")
    parser.add_argument(
        "--flows",
        default=",".join(ALL_FLOWS),
        help=f"comma-separated subset of: {', '.join(ALL_FLOWS)}",
    )
    args = parser.parse_args()
    args.flows = [f.strip() for f in args.flows.split(",") if f.strip()]
    unknown = [f for f in args.flows if f not in ALL_FLOWS]
    if unknown:
        parser.error(f"unknown flows: {', '.join(unknown)}")
    secret = os.environ.get("EMULATOR_CLIENT_SECRET", "")
    if not secret:
        parser.error("set EMULATOR_CLIENT_SECRET")
    report = asyncio.run(run(args, secret))
    json.dump(report, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
