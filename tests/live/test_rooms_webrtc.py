"""Two real WebRTC peers (aiortc), the patient and the doctor, negotiating only through the room
socket of a live daphne: offer, answer and trickled ICE candidates all go through the server.

The descriptions are sent *without* their candidate lines, so the peers can only connect with the
candidates relayed as ``ice_candidate`` frames. No ICE servers are configured and host candidates
are gathered on the loopback interface only: nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib

import aioice.ice
import pytest
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.sdp import candidate_from_sdp
from av import VideoFrame

from tests.live.rooms import WsParticipant, room_url

pytestmark = [pytest.mark.live_server, pytest.mark.postgres]

TEST_TIMEOUT = 25
FRAME_WIDTH, FRAME_HEIGHT = 160, 120
FRAMES_WANTED = 5


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Host candidates on 127.0.0.1 only (aioice leaves loopback out by default)."""
    monkeypatch.setattr(
        aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []
    )


def split_candidates(sdp: str) -> tuple[str, list[tuple[str | None, int, str]]]:
    """The SDP without candidate lines, and each candidate as ``(mid, m-line index, line)``."""
    kept: list[str] = []
    candidates: list[tuple[str | None, int, str]] = []
    mline, mid = -1, None
    pending: list[str] = []

    def flush() -> None:
        candidates.extend((mid, mline, line) for line in pending)
        pending.clear()

    for line in sdp.splitlines():
        if line.startswith("m="):
            flush()
            mline, mid = mline + 1, None
        elif line.startswith("a=mid:"):
            mid = line.removeprefix("a=mid:")
        if line.startswith("a=candidate:"):
            pending.append(line.removeprefix("a="))
        elif line != "a=end-of-candidates":
            kept.append(line)
    flush()
    return "\r\n".join(kept) + "\r\n", candidates


class Peer:
    """An aiortc peer connection whose signaling goes through a room socket."""

    def __init__(self, ws: WsParticipant) -> None:
        self.ws = ws
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.sent_candidates: list[str] = []
        self.received_candidates: list[str] = []
        self.remote_end_of_candidates = asyncio.Event()
        self._signals = asyncio.create_task(self._handle_signals())

    async def offer(self) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self._send_local_description()

    async def _send_local_description(self) -> None:
        description = self.pc.localDescription
        sdp, candidates = split_candidates(description.sdp)
        assert candidates, "aiortc gathered no candidate"
        ack = await self.ws.request({"type": description.type, "sdp": sdp})
        assert ack["type"] == "ack", ack
        for mid, index, line in candidates:
            assert " 127.0.0.1 " in line, f"not a loopback candidate: {line}"
            frame = {"type": "ice_candidate", "candidate": line, "sdp_mid": mid, "sdp_mline_index": index}
            ack = await self.ws.request(frame)
            assert ack["type"] == "ack", ack
            self.sent_candidates.append(line)
        ack = await self.ws.request({"type": "ice_candidate", "candidate": ""})  # end of candidates
        assert ack["type"] == "ack", ack

    async def _handle_signals(self) -> None:
        """Apply the other side's offer, answer and candidates in the order they were relayed."""
        while True:
            frame = await self.ws.wait_for(("offer", "answer", "ice_candidate"), timeout=TEST_TIMEOUT)
            if frame["type"] in ("offer", "answer"):
                await self.pc.setRemoteDescription(
                    RTCSessionDescription(sdp=frame["sdp"], type=frame["type"])
                )
                if frame["type"] == "offer":
                    await self.pc.setLocalDescription(await self.pc.createAnswer())
                    await self._send_local_description()
            elif frame["candidate"]:
                candidate = candidate_from_sdp(frame["candidate"].removeprefix("candidate:"))
                candidate.sdpMid = frame["sdp_mid"]
                candidate.sdpMLineIndex = frame["sdp_mline_index"]
                await self.pc.addIceCandidate(candidate)
                self.received_candidates.append(frame["candidate"])
            else:
                await self.pc.addIceCandidate(None)
                self.remote_end_of_candidates.set()

    async def wait_connected(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while self.pc.connectionState != "connected":
                if self.pc.connectionState == "failed" or self._signals.done():
                    if self._signals.done() and not self._signals.cancelled():
                        self._signals.result()  # the signaling error, if there is one
                    raise AssertionError(f"connection {self.pc.connectionState}")
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        self._signals.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._signals
        await self.pc.close()


class SyntheticVideo(VideoStreamTrack):
    """Small frames whose brightness changes every frame."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=FRAME_WIDTH, height=FRAME_HEIGHT, format="yuv420p")
        luma = 16 + (self.count * 7) % 220
        for plane, value in zip(frame.planes, (luma, 128, 128), strict=True):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts = pts
        frame.time_base = time_base
        self.count += 1
        return frame


async def _admitted_pair(server, live_room) -> tuple[WsParticipant, WsParticipant]:
    url = room_url(server.ws_url, live_room.id)
    patient = await WsParticipant.connect(url, live_room.patient_token, name="patient")
    await patient.wait_for("waiting")
    doctor = await WsParticipant.connect(url, live_room.doctor_token, name="doctor")
    await doctor.wait_for("patient_waiting")
    assert (await doctor.request({"type": "admit"}))["type"] == "ack"
    await patient.wait_for("admitted")
    return patient, doctor


async def _assert_relayed_candidates(doctor: Peer, patient: Peer) -> None:
    for peer in (doctor, patient):
        await asyncio.wait_for(peer.remote_end_of_candidates.wait(), 5)
    assert doctor.sent_candidates
    assert patient.sent_candidates
    assert patient.received_candidates == doctor.sent_candidates
    assert doctor.received_candidates == patient.sent_candidates


async def test_data_channel_between_two_peers_signaled_through_the_room(start_room_servers, live_room):
    (server,) = start_room_servers(1)
    async with asyncio.timeout(TEST_TIMEOUT):
        patient_ws, doctor_ws = await _admitted_pair(server, live_room)
        doctor, patient = Peer(doctor_ws), Peer(patient_ws)
        try:
            loop = asyncio.get_running_loop()
            doctor_got, patient_got = loop.create_future(), loop.create_future()
            opened = asyncio.Event()

            channel = doctor.pc.createDataChannel("consult")
            channel.on("open", opened.set)
            channel.on("message", lambda message: doctor_got.done() or doctor_got.set_result(message))

            @patient.pc.on("datachannel")
            def on_datachannel(remote: RTCDataChannel) -> None:
                @remote.on("message")
                def on_message(message: str) -> None:
                    if not patient_got.done():
                        patient_got.set_result((remote.label, message))
                        remote.send(f"patient heard: {message}")

            await doctor.offer()
            await asyncio.wait_for(opened.wait(), 10)
            channel.send("hello from the doctor")
            assert await asyncio.wait_for(patient_got, 5) == ("consult", "hello from the doctor")
            assert await asyncio.wait_for(doctor_got, 5) == "patient heard: hello from the doctor"

            await doctor.wait_connected()
            await patient.wait_connected()
            await _assert_relayed_candidates(doctor, patient)
            offer, answer = patient_ws.of_type("offer")[0], doctor_ws.of_type("answer")[0]
            assert offer["from"]["role"] == "doctor"
            assert answer["from"]["role"] == "patient"
            assert "a=candidate" not in offer["sdp"] + answer["sdp"]
        finally:
            await doctor.close()
            await patient.close()
            await doctor_ws.close()
            await patient_ws.close()


async def test_video_from_doctor_reaches_the_patient(start_room_servers, live_room):
    (server,) = start_room_servers(1)
    async with asyncio.timeout(TEST_TIMEOUT):
        patient_ws, doctor_ws = await _admitted_pair(server, live_room)
        doctor, patient = Peer(doctor_ws), Peer(patient_ws)
        readers: list[asyncio.Task] = []
        try:
            loop = asyncio.get_running_loop()
            received: list[VideoFrame] = []
            enough = loop.create_future()

            async def read(track) -> None:
                while len(received) < FRAMES_WANTED:
                    received.append(await track.recv())
                enough.set_result(None)

            @patient.pc.on("track")
            def on_track(track) -> None:
                assert track.kind == "video"
                readers.append(asyncio.create_task(read(track)))

            source = SyntheticVideo()
            doctor.pc.addTrack(source)
            await doctor.offer()
            await asyncio.wait_for(enough, 15)

            assert all((f.width, f.height) == (FRAME_WIDTH, FRAME_HEIGHT) for f in received)
            assert len({f.pts for f in received}) == FRAMES_WANTED
            assert source.count >= FRAMES_WANTED
            await _assert_relayed_candidates(doctor, patient)
        finally:
            for task in readers:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await doctor.close()
            await patient.close()
            await doctor_ws.close()
            await patient_ws.close()
