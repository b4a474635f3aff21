// Least-privilege data-plane roles for the Function App's identity (and the deploying user).
param functionsStorageName string
param modelStorageName string
param modelContainerName string
param applicationInsightsName string
param identityPrincipalId string
@description('Object id of the deploying user (azd sets AZURE_PRINCIPAL_ID); empty to skip.')
param userPrincipalId string = ''
@allowed(['User', 'ServicePrincipal', 'Group'])
param userPrincipalType string = 'User'

// Built-in role definition ids.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource functionsStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: functionsStorageName
}

resource modelStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: modelStorageName

  resource blobServices 'blobServices' existing = {
    name: 'default'

    resource modelContainer 'containers' existing = {
      name: modelContainerName
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// The Functions host storage (AzureWebJobsStorage) and the deployment package container.
resource functionsStorageOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(functionsStorage.id, identityPrincipalId, storageBlobDataOwner)
  scope: functionsStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Read-only access to the model container (model.onnx + model.json), nothing else in that account.
resource modelReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(modelStorage::blobServices::modelContainer.id, identityPrincipalId, storageBlobDataReader)
  scope: modelStorage::blobServices::modelContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Telemetry to Application Insights with Entra ID auth (local auth is disabled).
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identityPrincipalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The deploying user uploads model versions (az storage blob upload --auth-mode login).
resource userModelWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(modelStorage::blobServices::modelContainer.id, userPrincipalId, storageBlobDataContributor)
  scope: modelStorage::blobServices::modelContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}
