"""Requests handed to the sending platform, delivered to a real HTTP server on 127.0.0.1
that plays the platform: it accepts, refuses, fails, hangs, drops the connection or
answers a byte at a time, and checks every request's signature as the platform would."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.utils import timezone, translation

from sendon_results.handoff import actions, addresses, delivery, signing
from sendon_results.ingest import apply_results
from sendon_results.ingest.status import change_status
from sendon_results.models import (
    Delivery,
    Organization,
    OutboxMessage,
    PlatformEndpoint,
    SendRequest,
)

from .factories import OrganizationFactory, make_send
from .test_tallies import assert_exact

pytestmark = pytest.mark.django_db

TIMEOUT = 1  # settings.PLATFORM_TIMEOUT_SECONDS in these tests: a hung platform costs 1 s
# The longest a try may take: the timeout, and a margin for a loaded machine.
TRY_LIMIT = TIMEOUT + 2
HOOK_PATH = "/hooks/sendon"
State = OutboxMessage.State

Answer = Callable[["PlatformHandler"], None]


@dataclass(frozen=True)
class Seen:
    """One request as the platform received it."""

    path: str
    headers: Message
    body: bytes


class PlatformServer(ThreadingHTTPServer):
    daemon_threads = True
    platform: Platform


class PlatformHandler(BaseHTTPRequestHandler):
    server: PlatformServer

    def do_POST(self) -> None:
        platform = self.server.platform
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        platform.requests.append(Seen(self.path, self.headers, body))
        signature = self.headers.get(signing.HEADER, "")
        if platform.secret and not signing.verify(signature, body, platform.secret):
            self.reply(401, b"The signature does not match.")
            return
        platform.answer(self)

    def reply(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet in the test output


class Platform:
    """The organization's sending platform: records each request and answers with
    `answer`; when `secret` is set, a request not signed with it is answered 401."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.answer: Answer = accepting()
        self.secret = ""
        # Set at teardown: a hanging or dribbling answer stops at once.
        self.stopping = threading.Event()
        self.server = PlatformServer(("127.0.0.1", 0), PlatformHandler)
        self.server.platform = self

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{HOOK_PATH}"


def accepting(status: int = 200) -> Answer:
    return lambda handler: handler.reply(status, b'{"ok": true}', "application/json")


def refusing_with_json(answer: object, status: int = 409) -> Answer:
    body = json.dumps(answer).encode()
    return lambda handler: handler.reply(status, body, "application/json")


def refusing_with_text(text: str, status: int = 422) -> Answer:
    return lambda handler: handler.reply(status, text.encode())


def failing(status: int = 500) -> Answer:
    return lambda handler: handler.reply(status, b"Internal Server Error")


def answering_after(seconds: float) -> Answer:
    def answer(handler: PlatformHandler) -> None:
        handler.server.platform.stopping.wait(seconds)
        handler.reply(200, b"{}", "application/json")

    return answer


def dropping_the_connection(handler: PlatformHandler) -> None:
    # No status line, no header: the socket is closed once the handler returns.
    handler.close_connection = True


def dribbling(data: bytes, interval: float) -> Callable[[PlatformHandler], None]:
    """Writes `data` a byte at a time, `interval` seconds apart, until the console hangs up."""

    def write(handler: PlatformHandler) -> None:
        stopping = handler.server.platform.stopping
        for i in range(len(data)):
            try:
                handler.wfile.write(data[i : i + 1])
                handler.wfile.flush()
            except OSError:
                return  # the console gave up and closed the connection
            if stopping.wait(interval):
                return

    return write


def dribbling_the_body(handler: PlatformHandler) -> None:
    """A status and headers at once, then a body of 100 bytes, 4 a second: 25 s in all."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    dribbling(b" " * 98 + b"{}", 0.25)(handler)


def dribbling_everything(handler: PlatformHandler) -> None:
    """The whole answer, from the status line's first byte, a byte every 70 ms: about 5 s,
    each byte well within the timeout."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    dribbling(answer, 0.07)(handler)


@pytest.fixture
def platform(settings) -> Iterator[Platform]:
    settings.PLATFORM_TIMEOUT_SECONDS = TIMEOUT
    settings.PLATFORM_ALLOW_HTTP = True
    settings.PLATFORM_ALLOW_PRIVATE_ADDRESSES = True
    platform = Platform()
    # A short poll: shutdown() waits for the loop's next look.
    thread = threading.Thread(
        target=platform.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield platform
    platform.stopping.set()
    platform.server.shutdown()
    platform.server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def organization(db) -> Organization:
    return OrganizationFactory()


@pytest.fixture
def endpoint(platform: Platform, organization: Organization) -> PlatformEndpoint:
    """The organization's endpoint at the test platform, which checks the same secret."""
    endpoint = PlatformEndpoint.objects.create(
        organization=organization, url=platform.url, secret=signing.new_secret()
    )
    platform.secret = endpoint.secret
    return endpoint


@pytest.fixture
def reserved(organization: Organization) -> SendRequest:
    """A reservation for tomorrow, its two messages waiting."""
    return make_send(
        organization,
        outcomes=["waiting", "waiting"],
        status=SendRequest.Status.RESERVED,
        scheduled_at=timezone.now() + dt.timedelta(days=1),
    )


def ask(send: SendRequest, kind: str = "cancel") -> OutboxMessage:
    return actions.ask(send, kind, user=None, queue=lambda pk: None)


def fresh[T: (SendRequest, OutboxMessage, PlatformEndpoint)](row: T) -> T:
    row.refresh_from_db()
    return row


def outcomes_of(send: SendRequest) -> list[str]:
    return sorted(Delivery.objects.of_send(send).values_list("status", flat=True))


def timed_delivery(message: OutboxMessage) -> float:
    started = time.monotonic()
    assert delivery.deliver(message.pk) is True
    return time.monotonic() - started


def seconds_until(moment: dt.datetime | None) -> float:
    assert moment is not None
    return (moment - timezone.now()).total_seconds()


# What the platform receives


@pytest.mark.parametrize("status", [200, 202])
def test_cancel_is_posted_signed_and_accepted(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest, status: int
) -> None:
    """Asking to cancel moves the send to cancelling and writes one pending request; its
    delivery posts the JSON body with the message's key as Idempotency-Key and a signature
    that verifies with the endpoint's secret and no other. A 2xx settles it as accepted,
    with the try recorded."""
    platform.answer = accepting(status)

    message = ask(reserved, "cancel")

    assert fresh(reserved).status == SendRequest.Status.CANCELLING
    assert OutboxMessage.objects.get().pk == message.pk
    assert fresh(message).state == State.PENDING

    assert delivery.deliver(message.pk) is True

    (seen,) = platform.requests
    assert seen.path == HOOK_PATH
    body = json.loads(seen.body)
    assert body["id"] == str(message.key)
    assert body["type"] == "reservation.cancel"
    assert body["send"]["external_id"] == reserved.external_id
    assert body["send"]["recipients"] == 2
    assert seen.headers["Content-Type"].startswith("application/json")
    assert seen.headers["Idempotency-Key"] == str(message.key)
    signature = seen.headers[signing.HEADER]
    assert signing.verify(signature, seen.body, endpoint.secret)
    assert not signing.verify(signature, seen.body, signing.new_secret())
    assert not signing.verify(signature, seen.body + b" ", endpoint.secret)

    message = fresh(message)
    assert message.state == State.ACCEPTED
    assert message.next_try_at is None
    assert message.settled_at is not None
    (tried,) = message.tries
    assert tried["status"] == status
    assert isinstance(tried["ms"], int) and 0 <= tried["ms"] < TRY_LIMIT * 1000
    assert "error" not in tried
    # Accepted is not done: the send waits for the platform's confirmation.
    assert fresh(reserved).status == SendRequest.Status.CANCELLING
    assert outcomes_of(reserved) == ["waiting", "waiting"]
    assert_exact()


def test_a_slow_answer_within_the_timeout_is_accepted(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """A platform that takes half the timeout to answer is waited for: accepted in one try."""
    platform.answer = answering_after(TIMEOUT / 2)
    message = ask(reserved)

    elapsed = timed_delivery(message)

    message = fresh(message)
    assert message.state == State.ACCEPTED
    assert [tried["status"] for tried in message.tries] == [200]
    assert message.tries[0]["ms"] >= TIMEOUT / 2 * 1000
    assert TIMEOUT / 2 <= elapsed < TRY_LIMIT


def test_a_request_signed_with_another_secret_is_answered_401_and_tried_again(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """When the platform holds another secret it answers 401: not a refusal, the request
    stays pending for a retry and the send stays cancelling."""
    platform.secret = signing.new_secret()
    message = ask(reserved)

    delivery.deliver(message.pk)

    assert len(platform.requests) == 1
    message = fresh(message)
    assert message.state == State.PENDING
    assert [tried["status"] for tried in message.tries] == [401]
    assert fresh(reserved).status == SendRequest.Status.CANCELLING


# Refusals


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (refusing_with_json({"reason": "The reservation has already been sent."}), None),
        (refusing_with_text("Not enough points.", status=422), "Not enough points."),
    ],
    ids=["409-json", "422-text"],
)
@pytest.mark.parametrize("kind", ["cancel", "send_now"])
def test_a_refusal_gives_the_send_back_with_the_reason(
    platform: Platform,
    endpoint: PlatformEndpoint,
    reserved: SendRequest,
    answer: Answer,
    reason: str | None,
    kind: str,
) -> None:
    """A 409 with a JSON reason, or a 422 with plain text, settles the request as refused
    with that reason, and the send returns to reserved; the daily tallies still equal a
    recount."""
    platform.answer = answer
    message = ask(reserved, kind)
    assert fresh(reserved).status != SendRequest.Status.RESERVED

    delivery.deliver(message.pk)

    message = fresh(message)
    assert message.state == State.REFUSED
    assert message.answer == (reason or "The reservation has already been sent.")
    assert message.next_try_at is None
    assert message.settled_at is not None
    assert len(message.tries) == 1
    assert fresh(reserved).status == SendRequest.Status.RESERVED
    assert outcomes_of(reserved) == ["waiting", "waiting"]
    assert_exact()
    # Given back, it may be asked for again.
    assert ask(reserved, kind).pk != message.pk


def test_the_refusal_reason_is_collapsed_and_cut_to_300_characters(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """The platform's reason is shown as one line of at most 300 characters: runs of
    spaces, tabs and newlines become one space, and the rest is cut."""
    platform.answer = refusing_with_json(
        {"reason": "  이미\n\n  발송된\t예약입니다:  " + "가" * 400}
    )
    message = ask(reserved)

    delivery.deliver(message.pk)

    answer = fresh(message).answer
    assert answer == ("이미 발송된 예약입니다: " + "가" * 400)[:300]
    assert len(answer) == 300


def test_a_plain_text_refusal_is_collapsed_too(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """A 422's text body is the reason, on one line."""
    platform.answer = refusing_with_text("\n  Sender number\r\n not registered.  \n")
    message = ask(reserved)

    delivery.deliver(message.pk)

    assert fresh(message).answer == "Sender number not registered."


@pytest.mark.parametrize(
    "answer",
    [
        refusing_with_json({"reason": 42}),
        refusing_with_json({"reason": {"code": "E1"}}),
        refusing_with_json({"reason": None}),
        refusing_with_json({"reason": "   "}),
        refusing_with_json({}),
        refusing_with_text("", status=409),
    ],
    ids=["number", "object", "null", "blank", "no-reason", "empty-body"],
)
def test_a_refusal_without_a_text_reason_says_so(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest, answer: Answer
) -> None:
    """A reason that is not a string, or none at all, is shown as "Refused without a
    reason." (never as the JSON's text), and the refusal stands."""
    platform.answer = answer
    message = ask(reserved)

    with translation.override("en"):
        delivery.deliver(message.pk)

    message = fresh(message)
    assert message.state == State.REFUSED
    assert message.answer == "Refused without a reason."
    assert fresh(reserved).status == SendRequest.Status.RESERVED


# Tries that get no answer the console can act on


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (failing(500), 500),
        (failing(503), 503),
        (answering_after(TIMEOUT + 2), None),
        (dropping_the_connection, None),
        (dribbling_the_body, None),
        (dribbling_everything, None),
    ],
    ids=["500", "503", "timeout", "dropped", "dribbled-body", "dribbled-from-first-byte"],
)
def test_a_failed_try_is_recorded_and_retried_in_a_minute(
    platform: Platform,
    endpoint: PlatformEndpoint,
    reserved: SendRequest,
    answer: Answer,
    status: int | None,
) -> None:
    """A server error, no answer within the timeout, a dropped connection or an answer
    too slow to finish: the request stays pending with the try recorded (the status, or
    what went wrong), its next try RETRY_AFTER[0] seconds on, and the send stays
    cancelling. The try takes no longer than about the timeout."""
    platform.answer = answer
    message = ask(reserved)

    elapsed = timed_delivery(message)

    assert elapsed < TRY_LIMIT
    assert len(platform.requests) == 1
    message = fresh(message)
    assert message.state == State.PENDING
    assert message.settled_at is None
    assert message.answer == ""
    (tried,) = message.tries
    assert tried["status"] == status
    assert tried["ms"] < TRY_LIMIT * 1000
    if status is None:
        assert tried["error"]
    assert seconds_until(message.next_try_at) == pytest.approx(delivery.RETRY_AFTER[0], abs=5)
    assert fresh(reserved).status == SendRequest.Status.CANCELLING
    assert_exact()


def test_a_timeout_is_named_in_the_try(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """A platform that does not answer in time is recorded as such, with the timeout."""
    platform.answer = answering_after(TIMEOUT + 2)
    message = ask(reserved)

    with translation.override("en"):
        delivery.deliver(message.pk)

    assert fresh(message).tries[0]["error"] == f"No answer within {TIMEOUT} seconds."


def test_a_dropped_connection_is_named_in_the_try(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """A connection closed without an answer is recorded as a failed connection."""
    platform.answer = dropping_the_connection
    message = ask(reserved)

    with translation.override("en"):
        delivery.deliver(message.pk)

    assert fresh(message).tries[0]["error"].startswith("The connection failed (")


def test_retries_follow_the_schedule_then_give_up(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """Against a platform that always fails, each retry comes RETRY_AFTER[n] seconds after
    the try before, never earlier; after len(RETRY_AFTER) + 1 tries, all with the same
    Idempotency-Key, the console gives up and the send returns to reserved."""
    platform.answer = failing(500)
    message = ask(reserved)
    delivery.deliver(message.pk)

    for wait in delivery.RETRY_AFTER:
        message = fresh(message)
        assert message.state == State.PENDING
        assert message.next_try_at is not None
        last_try = dt.datetime.fromisoformat(message.tries[-1]["at"])
        assert (message.next_try_at - last_try).total_seconds() == pytest.approx(wait, abs=1)
        with time_machine.travel(message.next_try_at - dt.timedelta(seconds=2), tick=False):
            assert delivery.deliver_due() == 0
        with time_machine.travel(message.next_try_at + dt.timedelta(seconds=1)):
            assert delivery.deliver_due() == 1

    message = fresh(message)
    assert message.state == State.GAVE_UP
    assert message.next_try_at is None
    assert message.settled_at is not None
    assert message.answer
    assert len(message.tries) == len(delivery.RETRY_AFTER) + 1
    assert [tried["status"] for tried in message.tries] == [500] * len(message.tries)
    assert len(platform.requests) == len(delivery.RETRY_AFTER) + 1
    assert {seen.headers["Idempotency-Key"] for seen in platform.requests} == {str(message.key)}
    assert fresh(reserved).status == SendRequest.Status.RESERVED
    assert_exact()
    with time_machine.travel(timezone.now() + dt.timedelta(days=2)):
        assert delivery.deliver_due() == 0
    assert len(platform.requests) == len(delivery.RETRY_AFTER) + 1


# One request, however often it is asked for or tried


def test_a_second_ask_while_pending_is_not_now(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """A double click (the page's stale send asked twice) makes one request: the second
    ask raises NotNow, as does the other action, and nothing more is written."""
    ask(reserved, "cancel")

    with pytest.raises(actions.NotNow):
        ask(reserved, "cancel")
    with pytest.raises(actions.NotNow):
        ask(reserved, "send_now")

    assert OutboxMessage.objects.count() == 1
    assert fresh(reserved).status == SendRequest.Status.CANCELLING
    assert_exact()


def test_ask_without_an_endpoint_is_not_now(
    organization: Organization, reserved: SendRequest
) -> None:
    """With no platform connected there is nowhere to send: NotNow, and the send stays."""
    with pytest.raises(actions.NotNow):
        ask(reserved)

    assert not OutboxMessage.objects.exists()
    assert fresh(reserved).status == SendRequest.Status.RESERVED


def test_a_request_whose_worker_died_mid_try_is_posted_again_with_the_same_key(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """A worker that leased the message and posted it, then died before recording the
    answer: nobody tries it while the lease lasts; after it, the next round posts it
    again, the platform sees the same Idempotency-Key and body id, and one message is
    accepted."""
    message = ask(reserved)
    leased = delivery._lease(message.pk)
    assert leased is not None
    delivery._post(endpoint, leased)  # reached the platform; the answer was never recorded

    assert delivery.deliver(message.pk) is False  # a second worker, during the lease
    assert delivery.deliver_due() == 0
    assert len(platform.requests) == 1
    assert fresh(message).tries == []

    after_lease = timezone.now() + dt.timedelta(seconds=TIMEOUT + 61)
    with time_machine.travel(after_lease):
        assert delivery.deliver_due() == 1

    first, second = platform.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == str(message.key)
    assert json.loads(first.body)["id"] == json.loads(second.body)["id"] == str(message.key)
    assert OutboxMessage.objects.count() == 1
    message = fresh(message)
    assert message.state == State.ACCEPTED
    assert len(message.tries) == 1


# The platform confirms through the ingest


def test_an_accepted_cancel_is_confirmed_by_the_platform(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """After acceptance the platform reports cancelled: the send is cancelled and its
    waiting messages cancelled and refunded; the tallies equal a recount."""
    delivery.deliver(ask(reserved, "cancel").pk)

    send = change_status(send=reserved, status="cancelled", reason="")

    assert fresh(send).status == SendRequest.Status.CANCELLED
    assert send.waiting_count == 0
    assert send.cancelled_count == 2
    assert outcomes_of(send) == ["cancelled", "cancelled"]
    assert_exact()


def test_an_accepted_send_now_is_confirmed_by_the_platform_sending_now(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """Send now moves the send to sending_now with its messages still waiting; the
    platform's sending_now then releases them (sending, none waiting), and a replay of it
    changes nothing more. The tallies equal a recount at each step."""
    message = ask(reserved, "send_now")
    assert fresh(reserved).status == SendRequest.Status.SENDING_NOW
    assert reserved.waiting_count == 2
    assert outcomes_of(reserved) == ["waiting", "waiting"]
    assert_exact()
    delivery.deliver(message.pk)
    assert fresh(message).state == State.ACCEPTED

    send = change_status(send=reserved, status="sending_now", reason="")

    assert fresh(send).status == SendRequest.Status.SENDING_NOW
    assert send.waiting_count == 0
    assert send.sending_count == 2
    assert outcomes_of(send) == ["sending", "sending"]
    assert_exact()

    replayed = change_status(send=send, status="sending_now", reason="")
    assert fresh(replayed).sending_count == 2
    assert outcomes_of(send) == ["sending", "sending"]
    assert_exact()


def test_a_refusal_after_the_platform_began_sending_leaves_the_send(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """When the platform has already released the messages (its sending_now came first),
    a late refusal of the request does not move the send back to reserved: it is what its
    messages say, in progress."""
    message = ask(reserved, "send_now")
    change_status(send=reserved, status="sending_now", reason="")
    platform.answer = refusing_with_json({"reason": "Already sending."})

    delivery.deliver(message.pk)

    assert fresh(message).state == State.REFUSED
    assert fresh(reserved).status == SendRequest.Status.IN_PROGRESS
    assert outcomes_of(reserved) == ["sending", "sending"]
    assert_exact()


def test_a_refused_cancel_of_a_reservation_the_platform_sent_anyway_is_not_left_cancelling(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """The reservation's time came before the platform read the cancel: it sent the
    messages, reported their results, then refused the cancel. The send ends as what the
    results say (completed), not cancelling."""
    message = ask(reserved, "cancel")
    apply_results(
        organization=reserved.organization,
        results=[
            {
                "send_external_id": reserved.external_id,
                "recipient_external_id": f"{reserved.external_id}-{i}",
                "outcome": "success",
                "result_code": "1000",
                "result_message": "",
                "carrier": "SKT",
                "final_channel": "",
                "completed_at": timezone.now(),
                "points_refunded": Decimal("0"),
            }
            for i in range(2)
        ],
    )
    platform.answer = refusing_with_json({"reason": "Already sent."})

    delivery.deliver(message.pk)

    assert fresh(message).state == State.REFUSED
    assert outcomes_of(reserved) == ["success", "success"]
    assert_exact()
    assert fresh(reserved).status == SendRequest.Status.COMPLETED


# Secret rotation


def v1_signatures(header: str) -> list[str]:
    return [part for part in header.split(",") if part.startswith("v1=")]


def test_both_secrets_sign_during_a_rotation_and_only_the_new_one_after(
    platform: Platform, endpoint: PlatformEndpoint
) -> None:
    """While the previous secret is still good the header carries two v1 signatures and
    the platform may verify with either secret; once previous_until has passed, only the
    new secret signs."""
    old = signing.new_secret()
    endpoint.previous_secret = old
    endpoint.previous_until = timezone.now() + dt.timedelta(hours=1)
    endpoint.save()

    delivery.deliver(actions.test_message(endpoint, user=None).pk, waited_for=True)

    during = platform.requests[-1]
    header = during.headers[signing.HEADER]
    assert len(v1_signatures(header)) == 2
    assert signing.verify(header, during.body, endpoint.secret)
    assert signing.verify(header, during.body, old)

    with time_machine.travel(endpoint.previous_until + dt.timedelta(seconds=1)):
        message = actions.test_message(endpoint, user=None)
        delivery.deliver(message.pk, waited_for=True)
        after = platform.requests[-1]
        header = after.headers[signing.HEADER]
        assert len(v1_signatures(header)) == 1
        assert signing.verify(header, after.body, endpoint.secret)
        assert not signing.verify(header, after.body, old)
    assert fresh(message).state == State.ACCEPTED


# Addresses the console does not send to


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://[::1]:9/x",
        "http://10.0.0.7/x",
        "http://192.168.1.10/x",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0:9/x",
    ],
)
def test_private_addresses_are_refused(settings, url: str) -> None:
    """Unless PLATFORM_ALLOW_PRIVATE_ADDRESSES says so, loopback, private, link-local
    and unspecified addresses are refused."""
    settings.PLATFORM_ALLOW_HTTP = True
    settings.PLATFORM_ALLOW_PRIVATE_ADDRESSES = False

    with translation.override("en"), pytest.raises(addresses.Refused) as refused:
        addresses.check_url(url)

    assert str(refused.value) == "The endpoint may not be a private or local address."


def test_the_test_platform_is_allowed_only_with_private_addresses_allowed(
    settings, platform: Platform
) -> None:
    """The same local URL passes once PLATFORM_ALLOW_PRIVATE_ADDRESSES is on (the
    refusals above are the setting's, not the URL's)."""
    addresses.check_url(platform.url)

    settings.PLATFORM_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(addresses.Refused):
        addresses.check_url(platform.url)


def test_a_delivery_to_a_private_address_never_reaches_it(
    settings, platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """With private addresses not allowed, a delivery to the local platform is stopped
    before it connects: no request reaches the server, and since no later try could go
    either, the console gives up at once and the send is a reservation again."""
    settings.PLATFORM_ALLOW_PRIVATE_ADDRESSES = False
    message = ask(reserved)

    with translation.override("en"):
        assert delivery.deliver(message.pk) is True

    assert platform.requests == []
    message = fresh(message)
    assert message.state == State.GAVE_UP
    assert message.answer == "The endpoint may not be a private or local address."
    (tried,) = message.tries
    assert tried["status"] is None
    assert tried["error"] == "The endpoint may not be a private or local address."
    assert fresh(reserved).status == SendRequest.Status.RESERVED


def test_http_is_refused_unless_allowed(settings, platform: Platform) -> None:
    """With PLATFORM_ALLOW_HTTP off, an http:// endpoint is refused, however reachable."""
    settings.PLATFORM_ALLOW_HTTP = False

    with translation.override("en"), pytest.raises(addresses.Refused) as refused:
        addresses.check_url(platform.url)

    assert str(refused.value) == "The endpoint must be an https:// address."
    with pytest.raises(addresses.Refused):
        addresses.check_url("ftp://example.com/x")


def test_the_console_itself_is_refused(settings, platform: Platform) -> None:
    """A URL at the host the console is used at is refused, even where the address is
    allowed."""
    with translation.override("en"), pytest.raises(addresses.Refused) as refused:
        addresses.check_url(platform.url, console_host=f"127.0.0.1:{platform.port}")

    assert str(refused.value) == "The endpoint may not be this console itself."
    addresses.check_url(platform.url, console_host="127.0.0.1:1")


@pytest.mark.parametrize(
    "url", ["https://console.example.com/hooks", "https://CONSOLE.example.com:8443/hooks"]
)
def test_the_consoles_own_names_are_refused(settings, url: str) -> None:
    """A URL at one of the console's own names (ALLOWED_HOSTS) is refused before its
    name is looked up, whatever the letter case or port."""
    settings.ALLOWED_HOSTS = [".console.example.com", "other.example.net"]

    with translation.override("en"), pytest.raises(addresses.Refused) as refused:
        addresses.check_url(url)

    assert str(refused.value) == "The endpoint may not be this console itself."


@pytest.mark.parametrize(
    "url", ["https://user:pass@example.com/hooks", "https:///hooks", "https://:443/hooks"]
)
def test_urls_with_credentials_or_without_a_host_are_refused(url: str) -> None:
    """A URL that carries a user name or password, or names no host, is refused."""
    with pytest.raises(addresses.Refused):
        addresses.check_url(url)


# Found in review: each of these failed before its fix.


def a_result(send: SendRequest, index: int, outcome: str = "success") -> dict:
    return {
        "send_external_id": send.external_id,
        "recipient_external_id": f"{send.external_id}-{index}",
        "outcome": outcome,
        "result_code": "1000" if outcome == "success" else "2003",
        "result_message": "",
        "carrier": "SKT",
        "final_channel": "",
        "completed_at": timezone.now(),
        "points_refunded": Decimal("0"),
    }


def test_a_result_before_the_platforms_release_keeps_the_send_sending_now(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """A result may come before the platform's own sending_now: the send stays 즉시
    발송중 while a message still waits, and the confirmation then releases that one."""
    message = ask(reserved, "send_now")
    delivery.deliver(message.pk)
    apply_results(organization=reserved.organization, results=[a_result(reserved, 0)])
    assert fresh(reserved).status == SendRequest.Status.SENDING_NOW
    change_status(send=reserved, status="sending_now", reason="")
    assert outcomes_of(reserved) == ["sending", "success"]
    assert fresh(reserved).waiting_count == 0
    assert_exact()


def test_a_send_ended_while_its_cancel_was_refused_is_notified(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """The platform sent the reservation anyway, reported every result, then refused the
    cancel: the send ends there (completed), and its notification goes out."""
    endpoint.notify_url = endpoint.url
    endpoint.save()
    message = ask(reserved, "cancel")
    apply_results(
        organization=reserved.organization, results=[a_result(reserved, 0), a_result(reserved, 1)]
    )
    platform.answer = refusing_with_json({"reason": "Already sent."})
    delivery.deliver(message.pk)
    assert fresh(reserved).status == SendRequest.Status.COMPLETED
    [notified] = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.NOTIFY)
    assert notified.body["send"]["status"] == "completed"


def test_each_failed_recipient_is_resent_from_the_original_once(
    platform: Platform, endpoint: PlatformEndpoint, organization: Organization
) -> None:
    """Once a resend is accepted, asking again for the same failures is refused (they
    would get the message twice); failures not resent yet may still go."""
    send = make_send(organization, outcomes=["failure", "failure"], status="completed")
    first = actions.ask_resend(send, [f"3019|{send.channel}"], user=None, queue=lambda pk: None)
    delivery.deliver(first.pk)
    assert fresh(first).state == State.ACCEPTED
    with pytest.raises(actions.NotNow):
        actions.ask_resend(send, [f"3019|{send.channel}"], user=None, queue=lambda pk: None)
    # A refused resend does not count: its recipients may be asked for again.
    OutboxMessage.objects.filter(pk=first.pk).update(state=State.REFUSED)
    again = actions.ask_resend(send, [f"3019|{send.channel}"], user=None, queue=lambda pk: None)
    assert again.body["recipients"] == first.body["recipients"]


@pytest.mark.parametrize(
    ("address", "private_allowed"),
    [
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("::ffff:10.0.0.1", False),  # IPv4-mapped
        ("169.254.169.254", True),  # link-local (the cloud's metadata service): never
        ("fe80::1", True),
    ],
)
def test_addresses_that_lead_inside_are_refused(settings, monkeypatch, address, private_allowed):
    """An IPv6 address that carries an IPv4 one is judged by the IPv4 one; link-local
    addresses are refused even with private ones allowed."""
    import socket

    settings.PLATFORM_ALLOW_PRIVATE_ADDRESSES = private_allowed
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, port, **kw: [(family, 1, 6, "", (address, port))]
    )
    with pytest.raises(addresses.Refused):
        addresses.check_url("https://platform.example/x")


def test_a_port_out_of_range_is_refused_not_an_error() -> None:
    with translation.override("en"), pytest.raises(addresses.Refused) as refused:
        addresses.check_url("https://platform.example:99999/x")
    assert "port" in str(refused.value)


@pytest.mark.parametrize("header", ["t=²,v1=ab", "t=1,v1=é", "v1=ab", "t=1,t=2,v1=ab", "", ","])
def test_a_crafted_signature_header_is_refused_not_an_error(header: str) -> None:
    assert signing.verify(header, b"{}", "whsec_x", now=1) is False


def test_beat_never_takes_a_test_the_owner_waits_for(
    platform: Platform, endpoint: PlatformEndpoint
) -> None:
    message = actions.test_message(endpoint, user=None)
    assert delivery.deliver_due() == 0
    assert delivery.deliver(message.pk) is False  # not due: tried only as waited for
    assert delivery.deliver(message.pk, waited_for=True) is True
    assert fresh(message).state == State.ACCEPTED


def test_requests_go_with_the_records_they_are_about(
    platform: Platform, endpoint: PlatformEndpoint, reserved: SendRequest
) -> None:
    """The purge deletes requests to the platform made before its cutoff."""
    from sendon_results.retention import purge_expired

    old = ask(reserved)
    recent = actions.test_message(endpoint, user=None)
    OutboxMessage.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(days=400)
    )
    purge_expired()
    assert list(OutboxMessage.objects.values_list("pk", flat=True)) == [recent.pk]
