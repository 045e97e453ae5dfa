"""Room members for Locust: join, broadcast while receiving, leave, come back.

Run by hand against a server (or let ``python -m harness`` run it for you):

    locust -f locustfile.py --room-url ws://127.0.0.1:8765/ws \
        --lock-reports http://127.0.0.1:8765/debug/locks

Every member acknowledges each message at once where the protocol acks (roomchaos does,
except against the bundled server in ``write`` delivery, which awaits no ack). The first
members started (one per URL in ``--slow-urls``) connect through their own URLs, normally
each a Toxiproxy proxy with injected latency; the others use ``--room-url``.
A slow member in a room acts out the member faults in force for it (a stall, a reconnect;
commands from ``--control-file`` or the Chaos tab).
Lock reports from ``--lock-reports`` show up as ``LOCK`` failures.
With ``--push`` (a scenario's ``[push]``) members time the server's own pushes, listen only
unless it says they chat, and each process calls the server's HTTP trigger where it has one.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from locust import constant, events, task
from locust.runners import WorkerRunner

from harness.loadgen.histograms import HistogramRecorder
from harness.loadgen.history import operation_history
from harness.loadgen.inflight import InFlightRecorder, inflight_path
from harness.loadgen.lag import LagMonitor
from harness.loadgen.lockfeed import LockFeed
from harness.loadgen.memberfaults import member_faults, runs_members
from harness.loadgen.options import add_options
from harness.loadgen.order_tracker import order_recorder
from harness.loadgen.pushes import TriggerLoop
from harness.loadgen.samples import SampleRecorder
from harness.loadgen.schedule import CycleSchedule, first_broadcast_delay
from harness.loadgen.shutdown import interrupt_main_only
from harness.loadgen.slots import slot_service
from harness.loadgen.user import OperationFailed, RoomUser
from harness.measure.lockreports import LockReportSource
from harness.net.tls import TlsOptions
from harness.push import PushSettings
from harness.webui import install as install_chaos_tab


class RoomMember(RoomUser):
    """The article's member: join, broadcast now and then, leave, rejoin.

    Members keep a fixed schedule (:class:`CycleSchedule`): join, stay,
    leave, stay away, repeat. Join latency is also recorded from each join's
    intended start, which corrects it for coordinated omission.
    """

    wait_time = constant(0)  # the schedule paces the member

    def on_start(self) -> None:
        super().on_start()
        options = self.environment.parsed_options
        # Connect before the schedule starts: the start-up storm of connections is
        # not join latency. (A reconnect later on is: the member was out meanwhile.)
        # A protocol that joins by connecting connects in each join instead.
        if not self.protocol.joins_by_connect:
            self.connect()
        self.schedule = CycleSchedule.random_phase(options.stay, options.away)

    @task
    def cycle(self) -> None:
        options = self.environment.parsed_options
        gevent.sleep(self.schedule.wait_s())  # the first cycle starts at the member's phase
        intended_join = self.schedule.next_join()
        try:
            if not self.ensure_connected():
                gevent.sleep(1.0)  # unreachable: retry; the schedule keeps running
                return
            self.join(intended_join)
            self.fault_point()  # in the room, no reply awaited: a stall may start here
            leave_at = self.schedule.leave_at(intended_join)
            # A server-push room's members only listen unless its [push] says they chat.
            broadcasts = self.pushes is None or self.pushes.members_broadcast
            first = first_broadcast_delay(options.broadcast_interval, options.stay)
            if broadcasts and first > 0:
                gevent.sleep(min(first, max(0.0, leave_at - time.monotonic())))
            while (now := time.monotonic()) < leave_at:
                if broadcasts:
                    self.broadcast()
                # After a stall (longer than the stay) it returns once the backlog is read,
                # so the leave below cannot close the connection on an unread backlog.
                self.fault_point()
                gevent.sleep(min(options.broadcast_interval, max(0.0, leave_at - now)))
            self.leave()
        except OperationFailed:
            pass  # already reported; the next cycle reconnects if needed
        self.schedule.advance()
        gevent.sleep(self.schedule.wait_s())


def _attach_trigger(environment: Any) -> None:
    """With ``[push] timing = "trigger"``: call the server's HTTP trigger from each process that
    runs members, from the test's start until it stops. Read at the start, not here: a worker
    gets the custom options from the master only then."""
    if environment.runner is None or not runs_members(environment.runner):
        return
    loops: list[TriggerLoop] = []

    def start(**_: Any) -> None:
        options = environment.parsed_options
        settings = PushSettings.from_json(getattr(options, "push", "") or "")
        if loops or settings is None or settings.trigger is None:
            return
        faults = member_faults(environment)
        loops.append(TriggerLoop(environment, settings, operation_history(environment),
                                 options.target_url or options.room_url,
                                 options.rooms, float(options.op_timeout),
                                 lambda: faults.draining, int(options.body_size or 0)))
        loops[0].start()

    def stop(**_: Any) -> None:
        while loops:
            loops.pop().stop()

    environment.events.test_start.add_listener(start)
    environment.events.test_stopping.add_listener(stop)
    environment.events.quitting.add_listener(stop)


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    add_options(parser)


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    interrupt_main_only()  # Ctrl-C (the harness's stop) leaves no member's traceback
    slot_service(environment)  # slow-member assignment: once, on the master
    SampleRecorder(environment, options.samples_file).attach()
    HistogramRecorder(environment, options.histograms_file).attach()
    if not isinstance(environment.runner, WorkerRunner):
        # The collector of order.jsonl must exist before workers ship to it: a master runs no
        # member, so it would never create it on first use. (A worker creates its own on its
        # first member, once the master's options have told it the path.)
        order_recorder(environment)
    LagMonitor(environment, options.lag_file).attach()  # the generator's own health
    # Member faults (a stall): commands from the run's control file or the Chaos tab.
    member_faults(environment).attach(options.control_file, options.member_faults_file)
    if options.lock_reports and not isinstance(environment.runner, WorkerRunner):
        tls = TlsOptions(options.ca_file or None, options.insecure)  # an https:// source
        feed = LockFeed(environment, LockReportSource(options.lock_reports,
                                                      context=tls.ssl_context()))
        environment.events.test_start.add_listener(lambda **_: feed.start())
        environment.events.quitting.add_listener(lambda **_: feed.stop())
    # Last: Locust runs quitting listeners last-registered first, and at the run's end this
    # one fires the unfinished operations into the recorders above before they close.
    InFlightRecorder(environment, inflight_path(options.samples_file)).attach()
    _attach_trigger(environment)
    install_chaos_tab(environment)  # the web UI's Chaos tab; does nothing without a web UI
