// Progressive enhancement only: every page works without JavaScript.
(function () {
  "use strict";

  // The header's cart count (base.html), kept current by pages that change the cart in place.
  function setCartCount(count) {
    if (typeof count !== "number") return;
    document.querySelectorAll("[data-cart-count]").forEach(function (el) {
      el.textContent = String(count);
    });
  }
  window.shopSetCartCount = setCartCount;

  // The product page's add-to-cart form: without JavaScript it posts and redirects to the cart;
  // with it, it posts with fetch, says so in place and updates the header count.
  function enhanceAddToCart(form) {
    var status = form.parentNode.querySelector("[data-cart-add-status]");
    var text = status && status.querySelector("[data-cart-add-message]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { "X-Requested-With": "fetch", "Accept": "application/json" },
        credentials: "same-origin"
      }).then(function (response) {
        return response.json();
      }).then(function (data) {
        setCartCount(data.item_count);
        if (status) {
          text.textContent = data.message;
          status.className = "message " + (data.ok ? "success" : "error");
          status.hidden = false;
        }
      }).catch(function () {
        form.submit();  // no JSON (network or server trouble): fall back to the plain post
      }).finally(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
    // A form marked data-once disables its buttons after the first submit (no double orders).
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      });
    });
    document.querySelectorAll("form[data-cart-add]").forEach(enhanceAddToCart);
    // The header's language and currency pickers (data-autosubmit) apply on change;
    // without JavaScript their <noscript> button does it.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  });
})();
