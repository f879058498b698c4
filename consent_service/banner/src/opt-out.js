/* Opt-out regimes (us-opt-out, notice): nothing blocks the page. The first layer is a notice with a
   "Your privacy choices" entry that opens the preferences; the regime's categories already run (pre).
   Where GPC is an opt-out (C.regime.gpc) the signal is recorded as the visitor's choice, refusing
   advertising, and where the law asks (gpc_display: California) the notice says it was honoured.
   The notice asks nothing, so it takes no focus; Close or Escape dismisses it for the rest of the tab
   session (sessionStorage: nothing is sent or recorded), and "Cookie settings" links still open the
   preferences. Only the regimes that need it get this module (bundle.py). */
function dismiss() {
  try { sessionStorage.setItem(prefix + 'notice', 1); } catch (e) { /* storage unavailable */ }
  closeAll();
}

S.first = () => {
  var honoured = gpcRefuses.length > 0 && C.regime.gpc;
  honoured && choose(pre, 'gpc');
  try { if (!honoured && sessionStorage.getItem(prefix + 'notice')) return; } catch (e) { /* show it */ }
  S.bar = h('div', {
    className: 'cc cc-b', role: 'region', lang, 'aria-label': T.privacy_choices,
    '@keydown': e => e.key == 'Escape' && dismiss(),
  }, [
    h('p', { id: 'cc-d' }, [T.description]),
    honoured && C.regime.gpc_display && h('p', { className: 'cc-gpc', id: 'cc-h' }, [T.gpc_honoured]),
    policyLink(),
    h('div', { className: 'cc-row' }, [button(T.privacy_choices, () => openPreferences()), button(T.close, dismiss)]),
  ]);
  d.body.prepend(S.bar);
  performance.mark && performance.mark('consent:shown');
};
