// Functions for the Artillery side of the peer benchmark (harness/bench/peer.py).
//
// Artillery's WebSocket engine has no timing of a reply, and its `match` cannot be used for
// the join: the match handler stays installed after the step, so a delivery that arrives in
// the same read as the `joined` reply finishes the step twice ("Callback was already
// called"). So the join is a plain `send`, and a listener of our own on the member's
// socket times it: beforeJoin notes the time, the `joined` reply writes
// "<unix seconds> <join ms>" to the file named by ROOMCHAOS_ARTILLERY_JOINS (a join still
// unanswered at the next one writes "<unix seconds> fail"). Its first line,
// "start <unix seconds>", says when the first member arrived.
'use strict';

const fs = require('fs');

const out = fs.createWriteStream(process.env.ROOMCHAOS_ARTILLERY_JOINS, { flags: 'a' });
const rooms = Number(process.env.ROOMCHAOS_ARTILLERY_ROOMS || '1');
const periodMs = Number(process.env.ROOMCHAOS_ARTILLERY_PERIOD_MS || '0');
const JOINED = '"type":"joined"'; // the server's frames are compact JSON
let members = 0;

// A member name and a room (rooms filled in turn), the join listener, then a wait for a
// random point of the first stay+away cycle, as the Locust members do (so joins do not
// come in lockstep).
function setUp(context, events, next) {
  const index = members++;
  if (index === 0) {
    out.write(`start ${Date.now() / 1000}\n`); // the first member arrived: the load begins
  }
  context.vars.member = `art-${process.pid}-${index}`;
  context.vars.room = `room-${index % rooms}`;
  context.vars.sent = 0;
  context.vars.joinStarted = null;
  context.ws.on('message', (data) => {
    if (context.vars.joinStarted !== null && data.includes(JOINED)) {
      const now = Date.now();
      out.write(`${now / 1000} ${now - context.vars.joinStarted}\n`);
      context.vars.joinStarted = null;
    }
  });
  setTimeout(next, Math.random() * periodMs);
}

function beforeJoin(context, events, next) {
  if (context.vars.joinStarted !== null) {
    out.write(`${Date.now() / 1000} fail\n`); // the last join was never answered
  }
  context.vars.joinStarted = Date.now();
  next();
}

function stamp(context, events, next) {
  context.vars.sent += 1;
  context.vars.id = `${context.vars.member}-${context.vars.sent}`;
  context.vars.now = Date.now() / 1000;
  next();
}

module.exports = { setUp, beforeJoin, stamp };
