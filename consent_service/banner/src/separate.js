/* Separate consents (PIPL arts. 23, 38-39): purposes such as a transfer abroad or sharing with another
   company need their own "yes". The first layer shows them as unticked choices of their own, and
   "Accept all" grants only the ones ticked in the view it was pressed in (the preferences view shows
   them as switches set to the visitor's current choice, so pressing it there keeps an earlier "yes").
   Only the regimes that show such purposes get this module. */
var separate = C.categories.filter(c => c.separate), isSeparate = c => separate.some(s => s.id == c);

S.extra = () => h('fieldset', { className: 'cc-sep' }, [
  h('legend', {}, [T.separate_title]),
  ...separate.map(c => h('label', {}, [h('input', { type: 'checkbox', name: c.id }), T.categories[c.id].title])),
]);

S.sep = g => g.filter(c => !isSeparate(c))
  .concat([...(S.modal || S.bar || d).querySelectorAll('input:checked')].map(i => i.name).filter(isSeparate));
