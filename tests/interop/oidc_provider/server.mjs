// panva's oidc-provider on loopback for anyoauth's interop tests.
//
//   node server.mjs CONFIG.json
//
// CONFIG.json (written by tests/interop/oidc_provider.py):
//   port                 TCP port on 127.0.0.1 (0: a free one)
//   clients              oidc-provider client metadata, registered as given
//   requireDpopNonce     every DPoP proof must carry a server nonce (use_dpop_nonce)
//   fapiClients          client_ids held to the FAPI 2.0 Security Profile
//   requirePar           every client must push its authorization request (RFC 9126)
//   accessTokenTtl       access token lifetime in seconds
//   tls                  {cert, key, ca} PEM file paths: serve https and accept client
//                        certificates signed by ca (RFC 8705); absent: plain http
//   mtlsAliases          (with tls) the issuer's port does not ask for client
//                        certificates; a second https port does, and the metadata
//                        publishes it as mtls_endpoint_aliases (RFC 8705 5) of the
//                        token, PAR, revocation, introspection and userinfo endpoints
//   resourceIndicators   {URI: scope} of the resource servers (RFC 8707): a resource
//                        named at the token endpoint gets a JWT access token whose aud
//                        is the URI, scoped to the listed scopes; other URIs are
//                        invalid_target; absent: oidc-provider's default (none known)
//   ciba                 {clients, notifyOrigin}: OpenID CIBA in poll and ping modes,
//                        with these clients registered too; pings to notifyOrigin go
//                        to the URL the test sets (see the CIBA block below)
//
// Once listening it prints one line of JSON ({issuer, port, pid, version, node}) on
// stdout, then serves until stdin reaches its end (or SIGTERM). oidc-provider's
// warnings and every error it answers with go to stderr.
//
// The user is played by plain HTTP: oidc-provider's development interactions accept any
// login and password, then ask for consent; both are HTML forms posted back.

import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createRequire } from 'node:module';
import process from 'node:process';

import Provider, { errors } from 'oidc-provider';

const require = createRequire(import.meta.url);
const { version } = require('oidc-provider/package.json');

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const tls = config.tls ?? null;
const fapiClients = new Set(config.fapiClients ?? []);

function signingKey(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg, kid: `${alg}-${randomBytes(4).toString('hex')}` };
}

// The server's own signing keys (id_tokens, JARM responses, userinfo JWTs): fresh per run.
const jwks = {
  keys: [
    signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
    signingKey('rsa', { modulusLength: 2048 }, 'PS256'),
    signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
    signingKey('ed25519', {}, 'EdDSA'),
  ],
};

function peerCertificate(ctx) {
  const socket = ctx.req.socket;
  if (typeof socket.getPeerX509Certificate !== 'function') return undefined;
  return socket.getPeerX509Certificate();
}

const mtlsAliases = Boolean(tls && config.mtlsAliases);

function httpsServer(requestCert) {
  return createHttpsServer({
    cert: readFileSync(tls.cert),
    key: readFileSync(tls.key),
    ca: readFileSync(tls.ca),
    requestCert,
    // Self-signed client certificates (self_signed_tls_client_auth) must reach the
    // provider; certificateAuthorized() below tells it whether the CA signed one.
    rejectUnauthorized: false,
  });
}

async function listen(listener, wanted) {
  await new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(wanted, '127.0.0.1', resolve);
  });
  return listener.address().port;
}

const server = tls ? httpsServer(!mtlsAliases) : createHttpServer();
const port = await listen(server, config.port ?? 0);
const issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
// The mutual-TLS host of the endpoint aliases: the same provider on another port.
const mtlsServer = mtlsAliases ? httpsServer(true) : null;
const mtlsOrigin = mtlsServer ? `https://127.0.0.1:${await listen(mtlsServer, 0)}` : null;
const discovery = mtlsOrigin
  ? {
    mtls_endpoint_aliases: {
      token_endpoint: `${mtlsOrigin}/token`,
      pushed_authorization_request_endpoint: `${mtlsOrigin}/request`,
      revocation_endpoint: `${mtlsOrigin}/token/revocation`,
      introspection_endpoint: `${mtlsOrigin}/token/introspection`,
      userinfo_endpoint: `${mtlsOrigin}/me`,
    },
  }
  : {};

// Resource indicators (RFC 8707), when config.resourceIndicators lists the servers.
const resourceServers = config.resourceIndicators ?? null;
const resourceIndicators = resourceServers
  ? {
    resourceIndicators: {
      enabled: true,
      async getResourceServerInfo(ctx, resource) {
        const scope = resourceServers[resource];
        if (scope === undefined) throw new errors.InvalidTarget();
        return { scope, audience: resource, accessTokenFormat: 'jwt', accessTokenTTL: config.accessTokenTtl ?? 3600 };
      },
    },
  }
  : {};

// OpenID CIBA (features.ciba), when config.ciba is set. The login hint is the account;
// triggerAuthenticationDevice keeps each request until the test decides it as the user
// through POST /__test/ciba/decide {login_hint, allow} (provider.backchannelResult).
// Ping clients register an https notification endpoint under config.ciba.notifyOrigin
// (oidc-provider takes only https there, and refuses loopback addresses); the fetch
// below sends those pings to the loopback URL the test gives with
// POST /__test/ciba/target {url}.
const cibaConfig = config.ciba ?? null;
const cibaPending = new Map();
let cibaTarget = null;
if (cibaConfig) config.clients.push(...cibaConfig.clients);
const ciba = cibaConfig
  ? {
    enabled: true,
    deliveryModes: ['poll', 'ping'],
    async processLoginHint(ctx, loginHint) {
      return loginHint;
    },
    async processLoginHintToken(ctx, loginHintToken) {
      return loginHintToken;
    },
    async verifyUserCode() {},
    async validateBindingMessage(ctx, bindingMessage) {
      if (bindingMessage !== undefined && !/^[\p{L}\p{N}\p{P}\p{Zs}]{1,64}$/u.test(bindingMessage)) {
        throw new errors.InvalidBindingMessage('the binding_message is not short printable text');
      }
    },
    async validateRequestContext() {},
    async triggerAuthenticationDevice(ctx, request, account) {
      cibaPending.set(account.accountId, request);
    },
  }
  : { enabled: false };
const cibaFetch = (url, options) => {
  if (cibaConfig && cibaTarget && url.startsWith(cibaConfig.notifyOrigin)) {
    const { dispatcher, ...rest } = options;
    return globalThis.fetch(cibaTarget + url.slice(cibaConfig.notifyOrigin.length), rest);
  }
  return globalThis.fetch(url, options);
};

const provider = new Provider(issuer, {
  clients: config.clients,
  fetch: cibaFetch,
  jwks,
  discovery,
  cookies: { keys: [randomBytes(32).toString('hex')] },
  async findAccount(ctx, sub) {
    // devInteractions log in any login: the login becomes the subject.
    return {
      accountId: sub,
      async claims() {
        return { sub, email: `${sub}@example.test`, email_verified: true };
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'offline_access', 'email', 'read', 'write'],
  pkce: { required: () => true },
  clientAuthMethods: [
    'client_secret_basic',
    'client_secret_jwt',
    'client_secret_post',
    'private_key_jwt',
    'none',
    ...(tls ? ['tls_client_auth', 'self_signed_tls_client_auth'] : []),
  ],
  // Refresh tokens for every client allowed the refresh_token grant (not only with
  // offline_access), rotated on every use.
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  rotateRefreshToken: () => true,
  ttl: {
    AccessToken: config.accessTokenTtl ?? 3600,
    ClientCredentials: config.accessTokenTtl ?? 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 24 * 3600,
    Grant: 24 * 3600,
    Interaction: 600,
    Session: 3600,
  },
  features: {
    ...resourceIndicators,
    devInteractions: { enabled: true },
    ciba,
    dPoP: {
      enabled: true,
      nonceSecret: randomBytes(32),
      requireNonce: () => Boolean(config.requireDpopNonce),
    },
    pushedAuthorizationRequests: {
      enabled: true,
      requirePushedAuthorizationRequests: Boolean(config.requirePar),
    },
    requestObjects: { enabled: true, requireSignedRequestObject: false },
    jwtResponseModes: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    clientCredentials: { enabled: true },
    userinfo: { enabled: true },
    fapi: {
      enabled: fapiClients.size > 0,
      profile: (ctx, client) => (client && fapiClients.has(client.clientId) ? '2.0' : undefined),
    },
    mTLS: {
      enabled: Boolean(tls),
      certificateBoundAccessTokens: Boolean(tls),
      selfSignedTlsClientAuth: Boolean(tls),
      tlsClientAuth: Boolean(tls),
      getCertificate(ctx) {
        return peerCertificate(ctx)?.toString();
      },
      certificateAuthorized(ctx) {
        return Boolean(ctx.req.socket.authorized);
      },
      certificateSubjectMatches(ctx, property, expected) {
        const certificate = peerCertificate(ctx);
        if (!certificate) return false;
        const names = (certificate.subjectAltName ?? '').split(', ');
        switch (property) {
          case 'tls_client_auth_subject_dn':
            return certificate.subject.split('\n').reverse().join(',') === expected
              || certificate.subject.split('\n').join(',') === expected;
          case 'tls_client_auth_san_dns':
            return names.includes(`DNS:${expected}`);
          case 'tls_client_auth_san_ip':
            return names.includes(`IP Address:${expected}`);
          case 'tls_client_auth_san_email':
            return names.includes(`email:${expected}`);
          case 'tls_client_auth_san_uri':
            return names.includes(`URI:${expected}`);
          default:
            return false;
        }
      },
    },
  },
});

// Every error the provider answers with, on stderr: the tests show it when they fail.
for (const event of [
  'server_error',
  'authorization.error',
  'backchannel.error',
  'grant.error',
  'introspection.error',
  'pushed_authorization_request.error',
  'revocation.error',
  'userinfo.error',
]) {
  provider.on(event, (ctx, error) => {
    const detail = [error.error_description, error.error_detail].filter(Boolean).join(' / ');
    process.stderr.write(`${event} ${ctx?.method} ${ctx?.path} ${error.name} ${error.message}: ${detail}\n`);
  });
}

// Every request on stderr with the port it came to and whether it carried a client
// certificate: the tests check which endpoints (and aliases) a client used.
provider.use(async (ctx, next) => {
  const certificate = tls ? (peerCertificate(ctx) ? 'cert' : 'nocert') : '-';
  process.stderr.write(`request ${ctx.method} ${ctx.host} ${ctx.path} ${certificate}\n`);
  await next();
});

// The CIBA test controls (with config.ciba only): the user's decision, and where pings go.
async function jsonBody(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return JSON.parse(text || '{}');
}
provider.use(async (ctx, next) => {
  if (!cibaConfig || ctx.method !== 'POST' || !ctx.path.startsWith('/__test/ciba/')) {
    await next();
    return;
  }
  const body = await jsonBody(ctx.req);
  if (ctx.path === '/__test/ciba/target') {
    cibaTarget = body.url;
    ctx.status = 204;
    return;
  }
  const request = cibaPending.get(body.login_hint);
  if (ctx.path !== '/__test/ciba/decide' || !request) {
    ctx.status = 404;
    return;
  }
  cibaPending.delete(body.login_hint);
  if (body.allow) {
    const grant = new provider.Grant({ accountId: request.accountId, clientId: request.clientId });
    grant.addOIDCScope(request.params.scope);
    await grant.save();
    await provider.backchannelResult(request, grant, { authTime: Math.floor(Date.now() / 1000) });
  } else {
    await provider.backchannelResult(request, new errors.AccessDenied('the user said no'));
  }
  ctx.status = 204;
});

server.on('request', provider.callback());
mtlsServer?.on('request', provider.callback());

process.stdout.write(`${JSON.stringify({
  issuer, port, pid: process.pid, version, node: process.version, mtlsOrigin,
})}\n`);

function stop() {
  for (const listener of [server, mtlsServer]) {
    listener?.close();
    listener?.closeAllConnections?.();
  }
  process.exit(0);
}
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
