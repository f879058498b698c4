/* Google Consent Mode v2 through the standard gtag/dataLayer pattern. */
var SIGNALS = ['ad_storage', 'ad_user_data', 'ad_personalization', 'analytics_storage',
  'functionality_storage', 'personalization_storage', 'security_storage'];
w.dataLayer = w.dataLayer || [];
w.gtag = w.gtag || function () { w.dataLayer.push(arguments); };

function consentMode(command, granted) {
  var signals = {};
  SIGNALS.forEach(s => {
    signals[s] = s == 'security_storage' ||
      C.categories.some(c => granted.includes(c.id) && c.consent_mode.includes(s)) ? 'granted' : 'denied';
  });
  w.gtag('consent', command, signals);
}
