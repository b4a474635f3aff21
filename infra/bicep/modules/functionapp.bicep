// Azure Functions app (Node 22, v4 programming model) on the Flex Consumption plan (FC1).
// Identity: one user-assigned managed identity for the host storage, the deployment package, the model blob
// and Application Insights; no keys or connection strings.
//
// App settings: the platform ones (AzureWebJobsStorage__*, APPLICATIONINSIGHTS_*, AZURE_CLIENT_ID) plus the
// service's own keys, which are exactly keys of shared/ops/config.ts (tests/deploy/bicep.test.ts checks it).
param location string
param tags object = {}
param name string
param planName string
param storageAccountName string
param storageBlobEndpoint string
param deploymentContainerName string
param identityId string
param identityClientId string
param applicationInsightsConnectionString string

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

// ---- service configuration (shared/ops/config.ts keys) ----
param modelBlobUrl string
param modelStoreTimeoutMs int = 30000
@description('What runs the point model: auto (compiled trees, onnxruntime for other graphs), compiled or onnxruntime.')
@allowed(['auto', 'compiled', 'onnxruntime'])
param modelEngine string = 'auto'
param maxBatch int = 10000
param maxBodyBytes int = 4194304
param maxInflightRows int = 100000
param maxInflightBodyBytes int = 16777216
@description('Node.js flags of the worker process: the same V8 heap caps as the container (BENCHMARKS.md, "Memory").')
param nodeArguments string = '--max-semi-space-size=4 --max-old-space-size=128'
param cacheTtlSeconds int = 86400
param cacheMaxEntries int = 50000
param cacheTimeoutMs int = 50
@allowed(['debug', 'info', 'warn', 'error', 'silent'])
param logLevel string = 'info'
@description('METRICS_GC_DURATION: nodejs_gc_duration_seconds on /metrics. Off: its GC observer doubles the Mark-Compacts under load on Node.js < 25.')
param metricsGcDuration bool = false
param rateLimitRequests int = 0
param rateLimitWindowSeconds int = 60
@description('TRUST_PROXY: proxies in front of the app that append to X-Forwarded-For. 1: the Functions front end alone; 2: Azure Front Door (or Application Gateway) in front of it.')
@allowed(['1', '2', '3'])
param trustProxy string = '1'
param upstashRedisRestUrl string = ''
@secure()
param upstashRedisRestToken string = ''
@secure()
param apiKeys string = ''
@secure()
param metricsToken string = ''
@description('Comma-separated exact origins allowed to call the API from browsers (CORS_ALLOWED_ORIGINS); the app answers CORS itself.')
param corsAllowedOrigins string = ''
@description('Front Door id (X-Azure-FDID) of the profile in front of the app; when set, the app accepts traffic only from it.')
param frontDoorId string = ''

// Behind Front Door: only its back-end addresses (service tag) AND only requests it forwarded for OUR profile
// (the X-Azure-FDID header; the service tag alone would admit any Front Door customer's traffic).
var frontDoorOnly = [
  {
    name: 'Allow Front Door'
    tag: 'ServiceTag'
    ipAddress: 'AzureFrontDoor.Backend'
    action: 'Allow'
    priority: 100
    headers: {
      'x-azure-fdid': [frontDoorId]
    }
  }
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd deploys service `api` (azure.yaml) to the resource with this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      // Platform CORS stays empty: when set it answers in the app's place and cannot expose headers
      // (Cache-Status, ETag, RateLimit-*); the service answers CORS itself from CORS_ALLOWED_ORIGINS.
      cors: {
        allowedOrigins: []
        supportCredentials: false
      }
      ipSecurityRestrictions: empty(frontDoorId) ? [] : frontDoorOnly
      ipSecurityRestrictionsDefaultAction: empty(frontDoorId) ? 'Allow' : 'Deny'
      // The deployment endpoint (scm) keeps its own rules: azd and func publish reach it, not Front Door.
      scmIpSecurityRestrictionsUseMain: false
      appSettings: [
        // ---- platform settings ----
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storageAccountName
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsightsConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
        {
          // Arguments for the Node.js worker process (the host's languageWorkers:node:arguments).
          name: 'languageWorkers__node__arguments'
          value: nodeArguments
        }
        {
          // glibc malloc arenas, as in the container (server/node-flags.ts).
          name: 'MALLOC_ARENA_MAX'
          value: '2'
        }
        {
          // glibc gives freed memory back (fixed thresholds instead of sliding ones), as in the container.
          name: 'MALLOC_TRIM_THRESHOLD_'
          value: '1048576'
        }
        {
          // DefaultAzureCredential picks the user-assigned identity for the model blob.
          name: 'AZURE_CLIENT_ID'
          value: identityClientId
        }
        // ---- the service's configuration (shared/ops/config.ts) ----
        {
          name: 'MODEL_BLOB_URL'
          value: modelBlobUrl
        }
        {
          name: 'MODEL_ENGINE'
          value: modelEngine
        }
        {
          name: 'MODEL_STORE_TIMEOUT_MS'
          value: string(modelStoreTimeoutMs)
        }
        {
          name: 'MAX_BATCH'
          value: string(maxBatch)
        }
        {
          name: 'MAX_BODY_BYTES'
          value: string(maxBodyBytes)
        }
        {
          name: 'MAX_INFLIGHT_ROWS'
          value: string(maxInflightRows)
        }
        {
          name: 'MAX_INFLIGHT_BODY_BYTES'
          value: string(maxInflightBodyBytes)
        }
        {
          name: 'CACHE_TTL_SECONDS'
          value: string(cacheTtlSeconds)
        }
        {
          name: 'CACHE_MAX_ENTRIES'
          value: string(cacheMaxEntries)
        }
        {
          name: 'CACHE_TIMEOUT_MS'
          value: string(cacheTimeoutMs)
        }
        {
          name: 'LOG_LEVEL'
          value: logLevel
        }
        {
          name: 'METRICS_GC_DURATION'
          value: string(metricsGcDuration)
        }
        {
          name: 'RATE_LIMIT_REQUESTS'
          value: string(rateLimitRequests)
        }
        {
          name: 'RATE_LIMIT_WINDOW_SECONDS'
          value: string(rateLimitWindowSeconds)
        }
        {
          // Requests reach the app through the Functions front end, which appends the caller to X-Forwarded-For:
          // the client is the entry trustProxy hops from the end (docs/DEPLOYMENT.md, "Client addresses").
          name: 'TRUST_PROXY'
          value: trustProxy
        }
        {
          name: 'UPSTASH_REDIS_REST_URL'
          value: upstashRedisRestUrl
        }
        {
          name: 'UPSTASH_REDIS_REST_TOKEN'
          value: upstashRedisRestToken
        }
        {
          name: 'API_KEYS'
          value: apiKeys
        }
        {
          name: 'METRICS_TOKEN'
          value: metricsToken
        }
        {
          name: 'CORS_ALLOWED_ORIGINS'
          value: corsAllowedOrigins
        }
      ]
    }
  }
}

output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
