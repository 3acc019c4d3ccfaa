/**
 * The variables through which a job holds AWS credentials (aws-actions/configure-aws-credentials
 * exports the first three; a Bedrock API key, web identity and container credentials the
 * others). Codex never gets them: with provider: amazon-bedrock the key proxy holds the
 * credential, and otherwise Codex has no use for the job's AWS access.
 */
export const AWS_CREDENTIAL_VARIABLES =
  /^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|SECURITY_TOKEN|BEARER_TOKEN_BEDROCK|WEB_IDENTITY_TOKEN_FILE|ROLE_ARN|CONTAINER_CREDENTIALS_(FULL|RELATIVE)_URI|CONTAINER_AUTHORIZATION_TOKEN(_FILE)?)$/i
