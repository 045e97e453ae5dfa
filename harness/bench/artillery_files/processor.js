// Functions for the Artillery side of the peer benchmark (harness/bench/peer.py).
// Artillery's WebSocket engine has no timing of a reply, so the join is timed here: a
// "function" step before the join's send notes the time, one after its match writes
// "<unix seconds> <join ms>" to the file named by ROOMCHAOS_ARTILLERY_JOINS.
'use strict';

const fs = require('fs');

const out = fs.createWriteStream(process.env.ROOMCHAOS_ARTILLERY_JOINS, { flags: 'a' });
const rooms = Number(process.env.ROOMCHAOS_ARTILLERY_ROOMS || '1');
const periodMs = Number(process.env.ROOMCHAOS_ARTILLERY_PERIOD_MS || '0');
let members = 0;

// A member name and a room (rooms filled in turn), then a wait for a random point of
// the first stay+away cycle, as the Locust members do (so joins do not come in lockstep).
function setUp(context, events, next) {
  const index = members++;
  context.vars.member = `art-${process.pid}-${index}`;
  context.vars.room = `room-${index % rooms}`;
  context.vars.sent = 0;
  setTimeout(next, Math.random() * periodMs);
}

function beforeJoin(context, events, next) {
  context.vars.joinStarted = Date.now();
  next();
}

// The join's match handler stays installed until the next send resets it; drop it, so a
// delivery that arrives now does not finish the finished step a second time.
function afterJoin(context, events, next) {
  context.ws.onmessage = undefined;
  const now = Date.now();
  out.write(`${now / 1000} ${now - context.vars.joinStarted}\n`);
  next();
}

function stamp(context, events, next) {
  context.vars.sent += 1;
  context.vars.id = `${context.vars.member}-${context.vars.sent}`;
  context.vars.now = Date.now() / 1000;
  next();
}

module.exports = { setUp, beforeJoin, afterJoin, stamp };
