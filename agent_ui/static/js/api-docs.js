// The API reference page (/api/docs): Swagger UI over the hub's own /openapi.json, loaded from
// /static (no inline script, so the Content-Security-Policy stays strict). "Try it out" sends the
// signed-in session's cookie and its CSRF token, as the pages do.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") { return; }
  var csrf = root.getAttribute("data-csrf") || "";
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    tryItOutEnabled: false,
    requestInterceptor: function (request) {
      if (csrf) { request.headers["X-CSRF-Token"] = csrf; }
      return request;
    }
  });
}());
