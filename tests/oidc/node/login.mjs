// A Node app logging people in with openid-client (a certified relying party library).
// Prints the authorization URL, reads the callback URL from stdin, then prints what it learned:
// the validated id_token claims, userinfo, a refreshed token, and the end_session URL.
import * as client from 'openid-client';
import {createInterface} from 'node:readline';

const {ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, POST_LOGOUT_URI} = process.env;

// The tests run the service over http on loopback; a real deployment is https and needs no option.
const config = await client.discovery(new URL(ISSUER), CLIENT_ID, CLIENT_SECRET, undefined,
                                      {execute: [client.allowInsecureRequests]});
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: REDIRECT_URI,
  scope: 'openid profile offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});
console.log(JSON.stringify({authorization_url: url.href}));

const lines = createInterface({input: process.stdin});
for await (const callback of lines) {
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
  });
  const claims = tokens.claims();  // the id_token, already checked against the JWKS, issuer, audience, nonce
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const logout = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token, post_logout_redirect_uri: POST_LOGOUT_URI, state: 'bye',
  });
  console.log(JSON.stringify({
    claims, userinfo,
    refreshed: {access_token: refreshed.access_token, rotated: refreshed.refresh_token !== tokens.refresh_token},
    end_session_url: logout.href,
  }));
  break;
}
