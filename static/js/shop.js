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

  // A disclosure: the header menu and the filter drawer open in place (without JavaScript
  // their links jump to the panel, which CSS shows with :target).
  function disclosure(toggle, panel, closers) {
    function set(open) {
      panel.classList.toggle("open", open);
      toggle.setAttribute("aria-expanded", String(open));
    }
    toggle.addEventListener("click", function (event) {
      event.preventDefault();
      set(!panel.classList.contains("open"));
      if (panel.classList.contains("open")) {
        var first = panel.querySelector("a, button, input, select");
        if (first) first.focus();
      }
    });
    closers.forEach(function (c) {
      c.addEventListener("click", function (event) { event.preventDefault(); set(false); toggle.focus(); });
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && panel.classList.contains("open")) { set(false); toggle.focus(); }
    });
  }

  // The product gallery: a thumbnail shows its picture large; the large one opens a zoom view.
  function enhanceGallery(gallery) {
    var main = gallery.querySelector("[data-gallery-main]");
    var mainImg = main && main.querySelector("img");
    var zoom = gallery.querySelector("[data-zoom]");
    if (!main || !mainImg) return;
    gallery.querySelectorAll("[data-gallery-thumb]").forEach(function (thumb) {
      thumb.addEventListener("click", function (event) {
        event.preventDefault();
        main.href = thumb.href;
        mainImg.src = thumb.dataset.large;
        mainImg.alt = thumb.querySelector("img").alt;
        gallery.querySelectorAll("[data-gallery-thumb]").forEach(function (t) {
          t.setAttribute("aria-current", String(t === thumb));
        });
      });
    });
    if (!zoom) return;
    var zoomImg = zoom.querySelector("img");
    var close = zoom.querySelector("button");
    main.addEventListener("click", function (event) {
      event.preventDefault();
      zoomImg.src = main.href;
      zoomImg.alt = mainImg.alt;
      zoom.hidden = false;
      close.focus();
    });
    function shut() { zoom.hidden = true; main.focus(); }
    close.addEventListener("click", shut);
    zoomImg.addEventListener("click", shut);
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !zoom.hidden) shut();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var menuToggle = document.querySelector("[data-menu-toggle]");
    var menu = document.querySelector("[data-menu]");
    if (menuToggle && menu) disclosure(menuToggle, menu, menu.querySelectorAll("[data-menu-close]"));
    var drawerToggle = document.querySelector("[data-drawer-toggle]");
    var drawer = document.querySelector("[data-drawer]");
    if (drawerToggle && drawer) disclosure(drawerToggle, drawer, drawer.querySelectorAll("[data-drawer-close]"));
    // Language and currency switch as soon as one is picked (a <noscript> button does it otherwise).
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    document.querySelectorAll("[data-gallery]").forEach(enhanceGallery);
    // Checkout: the card field shows only while "card" is the chosen way to pay.
    document.querySelectorAll("form[data-payment-form]").forEach(function (form) {
      var card = form.querySelector("[data-card-field]");
      if (!card) return;
      function sync() {
        var chosen = form.querySelector("input[name=payment_method]:checked");
        card.hidden = !chosen || chosen.value !== "card";
      }
      form.querySelectorAll("input[name=payment_method]").forEach(function (r) { r.addEventListener("change", sync); });
      sync();
    });
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
