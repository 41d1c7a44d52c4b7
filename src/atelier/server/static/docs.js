// Starts Swagger UI on /openapi.json (a file, not inline: the studio's CSP allows no inline script).
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
