// Progressive enhancement for the cart: the forms post normally without
// JavaScript; with it they are sent with fetch and the cart is redrawn in place.
(function () {
  "use strict";
  function bind(root) {
    root.querySelectorAll("form[data-cart-form]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        fetch(form.action, {
          method: "POST",
          body: new FormData(form),
          headers: { "X-Requested-With": "fetch" },
          credentials: "same-origin"
        }).then(function (response) {
          return response.json();
        }).then(function (data) {
          if (typeof data.html !== "string") throw new Error("no cart in the answer");
          root.innerHTML = data.html;
          if (window.shopSetCartCount) window.shopSetCartCount(data.item_count);
          var status = document.createElement("p");
          status.setAttribute("role", "status");
          status.className = "message" + (data.ok ? " success" : " error");
          status.textContent = data.message;
          root.prepend(status);
          bind(root);
        }).catch(function () { form.submit(); });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("[data-cart]");
    if (root) bind(root);
  });
})();
