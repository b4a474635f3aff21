// House-price inference on Azure.
//   * Azure Functions (Flex Consumption, Node 22) - the default path, what `azd up` deploys (azure.yaml).
//   * AKS + KEDA + ACR (deployAks=true) - the container path (k8s-keda/overlays/prod, scripts/aks-deploy.sh).
// Both read the model from the same Blob container with managed identities (no keys: shared key access is off).
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name; prefixes the resource group and seeds resource names.')
param environmentName string

@minLength(1)
@description('Region for every resource (must offer Flex Consumption).')
param location string

@description('Object id of the deploying user (azd: AZURE_PRINCIPAL_ID); gets write access to the model container.')
param principalId string = ''
@allowed(['User', 'ServicePrincipal', 'Group'])
@description('Kind of principalId (ServicePrincipal when azd runs in CI).')
param principalType string = 'User'

@description('Path of model.onnx inside the model container; model.json sits beside it.')
param modelBlobPath string = 'house-price/current/model.onnx'

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@allowed(['debug', 'info', 'warn', 'error', 'silent'])
param logLevel string = 'info'
@description('What runs the point model (MODEL_ENGINE): auto (compiled trees, onnxruntime for other graphs), compiled or onnxruntime.')
@allowed(['auto', 'compiled', 'onnxruntime'])
param modelEngine string = 'auto'
param cacheTtlSeconds int = 86400
@description('METRICS_GC_DURATION: nodejs_gc_duration_seconds on /metrics. Off: its GC observer doubles the Mark-Compacts under load on Node.js < 25.')
param metricsGcDuration bool = false
param cacheMaxEntries int = 50000
param rateLimitRequests int = 0

@description('Upstash Redis REST endpoint for the shared cache of the Function App (empty: in-process cache only).')
param upstashRedisRestUrl string = ''
@secure()
param upstashRedisRestToken string = ''
@secure()
@description('Comma-separated API keys for the prediction endpoints (empty: open).')
param apiKeys string = ''
@secure()
@description('Bearer token required by GET /metrics (empty: open).')
param metricsToken string = ''

@description('Also deploy the AKS path (cluster, ACR, workload identity, managed Prometheus and its alert rules).')
param deployAks bool = false
@description('With deployAks: also deploy Azure Managed Grafana on the Azure Monitor workspace (principalId becomes Grafana Admin).')
param deployGrafana bool = false
@description('With deployAks: action group the Prometheus alert rules notify (resource id; empty: no notifications).')
param alertActionGroupId string = ''

@description('Put Azure Front Door (Standard) in front of the Function App: GET /predict cached at the edge, the app reachable only through it.')
param deployFrontDoor bool = false
@description('Comma-separated exact origins allowed to call the API from browsers (CORS_ALLOWED_ORIGINS; empty: no CORS).')
param corsAllowedOrigins string = ''

var tags = {
  'azd-env-name': environmentName
  workload: 'house-price'
}
var token = toLower(uniqueString(subscription().id, environmentName, location))
var modelContainerName = 'models'
var deploymentContainerName = 'app-package-${take(token, 8)}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-${token}'
    applicationInsightsName: 'appi-${token}'
  }
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'id-func-${token}'
  }
}

// Host storage (AzureWebJobsStorage) and the Flex Consumption deployment package.
module functionsStorage 'modules/storage.bicep' = {
  name: 'functions-storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: take('stfn${token}', 24)
    containerNames: [deploymentContainerName]
  }
}

// Model versions: models/house-price/<version>/model.{onnx,json}; current/ is what the services load.
module modelStorage 'modules/storage.bicep' = {
  name: 'model-storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: take('stmd${token}', 24)
    containerNames: [modelContainerName]
  }
}

module roles 'modules/role-assignments.bicep' = {
  name: 'role-assignments'
  scope: rg
  params: {
    functionsStorageName: functionsStorage.outputs.name
    modelStorageName: modelStorage.outputs.name
    modelContainerName: modelContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

// The profile first: its id locks the Function App down; the endpoint and route need the app's host name.
module frontDoorProfile 'modules/frontdoor-profile.bicep' = if (deployFrontDoor) {
  name: 'front-door-profile'
  scope: rg
  params: {
    name: 'afd-${token}'
    tags: tags
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'function-app'
  scope: rg
  dependsOn: [roles]
  params: {
    location: location
    tags: tags
    name: 'func-${token}'
    planName: 'plan-${token}'
    storageAccountName: functionsStorage.outputs.name
    storageBlobEndpoint: functionsStorage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    modelBlobUrl: '${modelStorage.outputs.blobEndpoint}${modelContainerName}/${modelBlobPath}'
    logLevel: logLevel
    metricsGcDuration: metricsGcDuration
    modelEngine: modelEngine
    cacheTtlSeconds: cacheTtlSeconds
    cacheMaxEntries: cacheMaxEntries
    rateLimitRequests: rateLimitRequests
    upstashRedisRestUrl: upstashRedisRestUrl
    upstashRedisRestToken: upstashRedisRestToken
    apiKeys: apiKeys
    metricsToken: metricsToken
    corsAllowedOrigins: corsAllowedOrigins
    // Client = X-Forwarded-For's last entry (appended by the App Service front end), or the one before it
    // behind Front Door, which appends the client's socket address before forwarding (docs/DEPLOYMENT.md).
    trustProxy: deployFrontDoor ? '2' : '1'
    frontDoorId: deployFrontDoor ? frontDoorProfile.outputs.frontDoorId : ''
  }
}

module frontDoor 'modules/frontdoor.bicep' = if (deployFrontDoor) {
  name: 'front-door'
  scope: rg
  params: {
    profileName: frontDoorProfile.outputs.name
    endpointName: 'house-price-${take(token, 8)}'
    originHostName: functionApp.outputs.defaultHostName
    corsAllowedOrigins: corsAllowedOrigins
    tags: tags
  }
}

module aks 'modules/aks.bicep' = if (deployAks) {
  name: 'aks'
  scope: rg
  params: {
    location: location
    tags: tags
    clusterName: 'aks-${token}'
    acrName: take('acr${token}', 50)
    workloadIdentityName: 'id-aks-house-price-${token}'
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
    modelStorageAccountName: modelStorage.outputs.name
    modelContainerName: modelContainerName
  }
}

// Managed Prometheus end to end: Azure Monitor workspace, DCE, DCR, DCR association, alert rule groups, Grafana.
module managedPrometheus 'modules/managed-prometheus.bicep' = if (deployAks) {
  name: 'managed-prometheus'
  scope: rg
  params: {
    location: location
    tags: tags
    clusterName: aks.outputs.clusterName
    workspaceName: 'amw-${token}'
    deployGrafana: deployGrafana
    grafanaName: take('amg-${token}', 23)
    grafanaAdminPrincipalId: principalId
    grafanaAdminPrincipalType: principalType
    actionGroupId: alertActionGroupId
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
// Behind Front Door the app answers only Front Door: the endpoint is Front Door's.
output SERVICE_API_ENDPOINT string = deployFrontDoor
  ? 'https://${frontDoor.outputs.endpointHostName}'
  : 'https://${functionApp.outputs.defaultHostName}'
output FUNCTION_APP_ENDPOINT string = 'https://${functionApp.outputs.defaultHostName}'
output FRONT_DOOR_PROFILE_NAME string = deployFrontDoor ? frontDoorProfile.outputs.name : ''
output FRONT_DOOR_ENDPOINT_NAME string = deployFrontDoor ? frontDoor.outputs.endpointName : ''
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output MODEL_STORAGE_ACCOUNT string = modelStorage.outputs.name
output MODEL_CONTAINER string = modelContainerName
output MODEL_BLOB_URL string = '${modelStorage.outputs.blobEndpoint}${modelContainerName}/${modelBlobPath}'
output AKS_CLUSTER_NAME string = deployAks ? aks.outputs.clusterName : ''
output AZURE_CONTAINER_REGISTRY_NAME string = deployAks ? aks.outputs.acrName : ''
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = deployAks ? aks.outputs.acrLoginServer : ''
output AKS_WORKLOAD_IDENTITY_CLIENT_ID string = deployAks ? aks.outputs.workloadIdentityClientId : ''
output AZURE_MONITOR_WORKSPACE_ID string = deployAks ? managedPrometheus.outputs.workspaceId : ''
output AZURE_MONITOR_WORKSPACE_NAME string = deployAks ? managedPrometheus.outputs.workspaceName : ''
output PROMETHEUS_QUERY_ENDPOINT string = deployAks ? managedPrometheus.outputs.prometheusQueryEndpoint : ''
output PROMETHEUS_DATA_COLLECTION_ENDPOINT_NAME string = deployAks ? managedPrometheus.outputs.dataCollectionEndpointName : ''
output PROMETHEUS_DATA_COLLECTION_RULE_NAME string = deployAks ? managedPrometheus.outputs.dataCollectionRuleName : ''
output PROMETHEUS_DATA_COLLECTION_RULE_ASSOCIATION_NAME string = deployAks ? managedPrometheus.outputs.dataCollectionRuleAssociationName : ''
output PROMETHEUS_RULE_GROUP_NAMES array = deployAks ? managedPrometheus.outputs.ruleGroupNames : []
output GRAFANA_NAME string = deployAks ? managedPrometheus.outputs.grafanaName : ''
output GRAFANA_ENDPOINT string = deployAks ? managedPrometheus.outputs.grafanaEndpoint : ''
