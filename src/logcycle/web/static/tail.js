// Live tail: server-sent events read with fetch() so the key travels in the Authorization
// header (EventSource cannot set headers, and a key must never be in a URL). After a
// dropped connection it reconnects with Last-Event-ID = the last id seen, so nothing
// committed in between is missed. Pausing closes the stream; resuming continues from the
// last id seen.

import { authHeaders, signalUnauthorized, url } from './api.js';
import { sleep } from './util.js';

export class Tail {
  /**
   * @param {object} params  the search filters (no time range)
   * @param {(ev: object) => void} onEvent
   * @param {(state: string, detail?: string) => void} onState  live | paused | reconnecting | stopped
   */
  constructor(params, onEvent, onState) {
    this.params = params;
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = null;
    this.running = false;
    this.ctrl = null;
  }

  start(afterId = this.lastId) {
    if (this.running) return;
    this.lastId = afterId;
    this.running = true;
    this.loop();
  }

  pause() {
    this.halt();
    this.onState('paused', this.lastId === null ? '' : `resumes after #${this.lastId}`);
  }

  stop() {
    this.halt();
    this.onState('stopped');
  }

  halt() {
    this.running = false;
    if (this.ctrl) this.ctrl.abort();
  }

  async loop() {
    let delay = 500;
    while (this.running) {
      this.ctrl = new AbortController();
      const began = Date.now();
      try {
        const headers = { ...authHeaders(), Accept: 'text/event-stream' };
        if (this.lastId !== null) headers['Last-Event-ID'] = String(this.lastId);
        const res = await fetch(url('/api/v1/tail', this.params),
          { headers, signal: this.ctrl.signal, cache: 'no-store', credentials: 'omit' });
        if (res.status === 401) {
          this.running = false;
          signalUnauthorized();
          return;
        }
        if (!res.ok) throw new Error(`the server answered ${res.status}`);
        await this.read(res.body);
        if (Date.now() - began > 10_000) delay = 500; // a long stream ended: reconnect soon
      } catch (err) {
        if (!this.running) return;
        this.onState('reconnecting', String(err.message || err));
      }
      if (!this.running) return;
      await sleep(delay);
      delay = Math.min(delay * 2, 10_000);
    }
  }

  async read(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        this.dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  dispatch(block) {
    let event = 'message';
    let id = null;
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'id') id = value;
      else if (field === 'data') data.push(value);
    }
    if (id !== null && /^\d+$/.test(id)) this.lastId = Number(id);
    if (event === 'ready') this.onState('live');
    else if (event === 'error') {
      this.running = false;
      signalUnauthorized();
    } else if (event === 'message' && data.length) this.onEvent(JSON.parse(data.join('\n')));
  }
}
