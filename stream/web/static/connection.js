// The page's one view of whether its server is still there, shared by live.js and uploads.js.
// Whoever finds it gone (the live socket closed with "going away", a request that got no
// answer at all) calls depthConnection.lost(): the page says so once, in its own words,
// everything that polls stops (each registered itself with onLost), and a Reconnect button
// is offered. Reconnect asks the server first and reloads the page only once it answers.
'use strict';
window.depthConnection = (() => {
  const token = new URLSearchParams(location.search).get('token');
  const stoppers = [];
  let gone = false;

  const STOPPED = 'The server has stopped. Videos it was processing or had queued were stopped, and every result '
    + 'it held was deleted. Start the server again, then press Reconnect.';

  function box() { return document.getElementById('message'); }

  function showReconnect(note) {
    const message = box();
    message.textContent = note;
    message.classList.add('error');
    message.dataset.sticky = '1';
    let button = document.getElementById('reconnect');
    if (!button) {
      button = document.createElement('button');
      button.id = 'reconnect';
      button.type = 'button';
      button.textContent = 'Reconnect';
      button.addEventListener('click', reconnect);
      message.after(button);
    }
    button.disabled = false;
  }

  async function reconnect() {
    const button = document.getElementById('reconnect');
    button.disabled = true;
    try {
      const response = await fetch(`api/status${token ? `?token=${encodeURIComponent(token)}` : ''}`, { cache: 'no-store' });
      if (response.ok) { location.reload(); return; }
    } catch (error) { /* still not answering: say so below */ }
    showReconnect('The server still does not answer. Start it again, then press Reconnect.');
  }

  return {
    get gone() { return gone; },
    // register what to stop (timers, sockets, the camera) once the server is gone
    onLost(stop) { if (gone) stop(); else stoppers.push(stop); },
    lost() {
      if (gone) return;
      gone = true;
      for (const stop of stoppers.splice(0)) { try { stop(); } catch (error) { /* keep stopping the rest */ } }
      showReconnect(STOPPED);
    },
    // a fetch that threw (no answer at all, not an HTTP error) means the server is gone
    isNoAnswer(error) { return error instanceof TypeError; },
  };
})();
