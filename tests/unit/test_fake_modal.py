"""The fake Modal API itself: complete servicers of the pinned ``modal_proto``, unknown RPCs
answered UNIMPLEMENTED and logged, credentials and router JWTs checked."""

from __future__ import annotations

import inspect

import pytest
from grpclib import GRPCError, Status
from grpclib.client import Channel
from modal_proto import api_pb2, task_command_router_pb2
from modal_proto.api_grpc import ModalClientBase, ModalClientStub
from modal_proto.task_command_router_grpc import TaskCommandRouterBase, TaskCommandRouterStub

from tests.fakes.modal_api import FakeModal, complete_servicer
from tests.fakes.modal_api.control import ControlPlane
from tests.fakes.modal_api.router import CommandRouter


def test_the_servicers_are_complete_subclasses_of_the_pinned_bases() -> None:
    for servicer, base in ((ControlPlane, ModalClientBase), (CommandRouter, TaskCommandRouterBase)):
        complete = complete_servicer(servicer)
        assert issubclass(complete, base)
        assert not inspect.isabstract(complete)


async def test_unknown_rpcs_bad_credentials_and_bad_jwts_are_refused() -> None:
    with FakeModal() as fake:
        channel = Channel("127.0.0.1", fake.port)
        try:
            control = ModalClientStub(channel)
            good = {"x-modal-token-id": fake.token_id, "x-modal-token-secret": fake.token_secret}
            with pytest.raises(GRPCError) as caught:
                await control.AppList(api_pb2.AppListRequest(), metadata=good)
            assert caught.value.status is Status.UNIMPLEMENTED
            assert fake.unimplemented == ["AppList"]

            wrong = {**good, "x-modal-token-secret": "wrong"}
            with pytest.raises(GRPCError) as caught:
                await control.AuthTokenGet(api_pb2.AuthTokenGetRequest(), metadata=wrong)
            assert caught.value.status is Status.UNAUTHENTICATED
            token = (await control.AuthTokenGet(api_pb2.AuthTokenGetRequest(), metadata=good)).token
            assert token.count(".") == 2  # JWT-shaped, with an exp claim the SDK reads

            router = TaskCommandRouterStub(channel)
            poll = task_command_router_pb2.TaskExecPollRequest(task_id="ta-x", exec_id="e")
            with pytest.raises(GRPCError) as caught:
                await router.TaskExecPoll(poll, metadata={"authorization": "Bearer forged"})
            assert caught.value.status is Status.UNAUTHENTICATED
            with pytest.raises(GRPCError) as caught:
                await router.TaskExecPoll(poll, metadata={"authorization": f"Bearer {token}"})
            assert caught.value.status is Status.NOT_FOUND
            assert [r.method for r in fake.requests] == [
                "AppList",
                "AuthTokenGet",
                "AuthTokenGet",
                "TaskExecPoll",
                "TaskExecPoll",
            ]
        finally:
            channel.close()
