/* The product page's variant picker: the chosen options name a variant; its price and stock show
   without a reload, options with nothing in stock (given the other choices) are marked, and the
   form sends the variant id. The server checks everything again. */
(function () {
  "use strict";
  var form = document.querySelector("[data-variant-picker]");
  var data = document.getElementById("variant-data");
  if (!form || !data) return;
  var variants = JSON.parse(data.textContent);
  var input = form.querySelector("[data-variant-input]");
  var price = form.querySelector("[data-variant-price]");
  var stock = form.querySelector("[data-variant-stock]");
  var submit = form.querySelector("[data-variant-submit]");
  var quantity = form.querySelector("input[name=quantity]");
  var texts = form.querySelector("[data-text-in-stock]").dataset;
  var groups = Array.prototype.slice.call(form.querySelectorAll("[data-option]"));

  function chosen() {
    var picked = {};
    groups.forEach(function (group) {
      var checked = group.querySelector("input:checked");
      if (checked) picked[group.dataset.option] = checked.value;
    });
    return picked;
  }

  function matches(variant, picked, skip) {
    return Object.keys(picked).every(function (code) {
      return code === skip || variant.options[code] === picked[code];
    });
  }

  function mark(picked) {
    groups.forEach(function (group) {
      var code = group.dataset.option;
      group.querySelectorAll("[data-option-value]").forEach(function (radio) {
        var inStock = variants.some(function (v) {
          return v.options[code] === radio.value && v.available > 0 && matches(v, picked, code);
        });
        var label = radio.closest("label");
        label.classList.toggle("sold-out", !inStock);
        label.title = inStock ? "" : texts.textOut;
        radio.setAttribute("aria-describedby", "");
        radio.dataset.soldOut = inStock ? "" : "1";
      });
    });
  }

  function update() {
    var picked = chosen();
    mark(picked);
    var complete = Object.keys(picked).length === groups.length;
    var variant = complete ? variants.filter(function (v) { return matches(v, picked); })[0] : null;
    input.value = variant ? variant.id : "";
    if (!variant) {
      price.textContent = "";
      stock.textContent = texts.textChoose;
      submit.disabled = complete;
      return;
    }
    // A promotion: the new price, then the catalogue's ("€40.00, was €50.00").
    price.textContent = variant.old_price ? variant.price + ", " + (texts.textWas || "was") + " " + variant.old_price : variant.price;
    if (variant.available <= 0) {
      stock.textContent = texts.textOut;
    } else if (variant.available <= 5) {
      stock.textContent = texts.textLeft.replace("%(n)s", variant.available);
    } else {
      stock.textContent = texts.textInStock;
    }
    submit.disabled = variant.available <= 0;
    if (quantity) quantity.max = Math.max(variant.available, 1);
  }

  form.addEventListener("change", update);
  // Preselect the first variant in stock, so one click adds something sellable.
  var first = variants.filter(function (v) { return v.available > 0; })[0];
  if (first) {
    groups.forEach(function (group) {
      var radio = group.querySelector('[data-option-value][value="' + CSS.escape(first.options[group.dataset.option]) + '"]');
      if (radio) radio.checked = true;
    });
  }
  update();
})();
