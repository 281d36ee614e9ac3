// A real authorization server for scopegate's opaque-token test: node-oidc-provider with
// client credentials, introspection and revocation, issuing opaque access tokens.
// Listens on 127.0.0.1:0 and prints `PORT <n>`; prints `INTROSPECTION` after each
// introspection it answers (so the test counts upstream calls exactly). Stops on stdin EOF.
import http from 'node:http';
import Provider from 'oidc-provider';

const issuer = 'http://127.0.0.1';
const provider = new Provider(issuer, {
  clients: [
    {
      // The client scopegate introspects as.
      client_id: 'scopegate',
      client_secret: 'scopegate-introspection-secret',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      // A service obtaining tokens with the client credentials grant.
      client_id: 'service',
      client_secret: 'service-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'courses:read courses:write',
    },
  ],
  scopes: ['courses:read', 'courses:write'],
  features: {
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Only scopegate may introspect, and it may introspect every client's tokens.
      allowedPolicy: async (ctx, client) => client.clientId === 'scopegate',
    },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
  },
  ttl: { ClientCredentials: 600 },
});
provider.proxy = false;
provider.on('introspection.error', (ctx, err) => console.error('introspection error', err.message));
provider.on('server_error', (ctx, err) => console.error('server error', err));

const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/token/introspection')) {
    res.on('finish', () => process.stdout.write('INTROSPECTION\n'));
  }
  callback(req, res);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
