"""Local, faithful stand-ins for WooCommerce, Brevo's MCP server and a CRM API."""
