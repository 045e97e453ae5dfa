"""Benchmarks of the harness and the reference server: ``python -m harness.bench``.

Every speed claim is a ratio against a ceiling or baseline measured in the same
run, on the same machine, at the same time:

* ``lockwatch``: uncontended acquire+release of lockwatch's locks against
  :class:`asyncio.Lock`, :class:`threading.Lock` and :class:`threading.RLock`
  (:mod:`harness.bench.locks`).
* ``fanout``: messages per second the reference server (``fixed`` mode)
  delivers to 50 acknowledging members of one room, against a bare
  ``websockets.broadcast`` server (:mod:`harness.bench.fanout`).
* ``loadgen``: broadcast round trips per second one Locust process sustains with
  :class:`~harness.loadgen.user.RoomUser`, against plain websocket-client loops
  (:mod:`harness.bench.loadgen`).
* ``verdict``: wall time of the ``make chaos`` matrix and how soon the naive
  server's fault shows in the evidence (:mod:`harness.bench.verdict_time`).
* ``scale``: the most members the fixed server and one Locust process hold with
  join p99 under 250 ms, at chat rates (rooms of 10, a broadcast every 5 s; goal
  2,000 with the members dialling the server, then again through Toxiproxy's clean
  proxy) and at the old chatty rate, with the CPU of each process
  (:mod:`harness.bench.scale`, :mod:`harness.bench.cpu_split`).
* ``townhall``: one room of 1,000 with one slow member: fixed keeps join p99
  under 250 ms and PASSes, naive FAILs (:mod:`harness.bench.townhall`).
* ``peer``: the chat-rate workload from Locust and from Artillery's WebSocket
  engine, side by side: members held and CPU per 1,000 members as ratios
  (:mod:`harness.bench.peer`; it installs Artillery with npm).

Benchmarks report; they never fail on speed. Results go to
``results/bench.json`` (see :mod:`harness.bench.table`).
"""
