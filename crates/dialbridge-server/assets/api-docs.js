// Starts Swagger UI on /api/docs with the document at /api/docs/openapi.json. Nothing leaves
// this host: the validator badge (which would call validator.swagger.io) is off, and the
// admin API key typed into "Authorize" is kept only in this page's memory.
window.ui = SwaggerUIBundle({
  url: "docs/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
