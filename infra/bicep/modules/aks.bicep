// The AKS path: an AKS cluster with OIDC issuer, workload identity and managed Prometheus metrics; an Azure
// Container Registry the cluster pulls from (AcrPull for the kubelet identity); a user-assigned identity
// federated with the Kubernetes ServiceAccount w255/house-price-api (k8s-keda/base/serviceaccount.yaml) that may
// read the model container.
//
// KEDA is NOT the AKS add-on here: the add-on's KEDA version follows the cluster's Kubernetes version and cannot
// be pinned, and HTTP autoscaling needs KEDA >= 2.17 (the HTTP add-on's scaler reports float metrics that older
// KEDA reads as 0). scripts/keda.sh installs pinned KEDA and KEDA HTTP add-on charts into namespace `keda`
// after the cluster exists, and scripts/aks-deploy.sh refuses to deploy unless the running versions are new
// enough (docs/DEPLOYMENT.md). The ScaledObject's scaler address (keda-add-ons-http-external-scaler.keda:9090)
// follows from that namespace.
param location string
param tags object = {}
param clusterName string
@description('Globally unique, alphanumeric.')
param acrName string
param workloadIdentityName string
param logAnalyticsWorkspaceId string
@description('Existing storage account (same resource group) holding the model container.')
param modelStorageAccountName string
param modelContainerName string

@description('Namespace and ServiceAccount of the API pods (must match k8s-keda).')
param serviceAccountNamespace string = 'w255'
param serviceAccountName string = 'house-price-api'

param kubernetesVersion string = ''
param systemNodeVmSize string = 'Standard_D4ds_v5'
@minValue(1)
param systemNodeCount int = 2
@minValue(1)
param systemNodeMaxCount int = 5

var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'

resource acr 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: acrName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
  }
}

resource aks 'Microsoft.ContainerService/managedClusters@2024-09-01' = {
  name: clusterName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    kubernetesVersion: empty(kubernetesVersion) ? null : kubernetesVersion
    dnsPrefix: clusterName
    enableRBAC: true
    disableLocalAccounts: false
    agentPoolProfiles: [
      {
        name: 'system'
        mode: 'System'
        vmSize: systemNodeVmSize
        osType: 'Linux'
        osSKU: 'AzureLinux'
        count: systemNodeCount
        minCount: systemNodeCount
        maxCount: systemNodeMaxCount
        enableAutoScaling: true
        type: 'VirtualMachineScaleSets'
      }
    ]
    networkProfile: {
      networkPlugin: 'azure'
      networkPluginMode: 'overlay'
      networkDataplane: 'cilium'
      networkPolicy: 'cilium'
    }
    // Workload identity: the cluster issues OIDC tokens that Entra ID trusts (federated credential below).
    oidcIssuerProfile: {
      enabled: true
    }
    securityProfile: {
      workloadIdentity: {
        enabled: true
      }
    }
    // The AKS KEDA add-on stays off: KEDA comes from the pinned Helm chart (scripts/keda.sh), and two KEDA
    // operators must never run in one cluster (both would drive the same ScaledObjects and HPAs).
    workloadAutoScalerProfile: {
      keda: {
        enabled: false
      }
    }
    // Managed Prometheus metrics add-on (ama-metrics). It sends to the Azure Monitor workspace through the data
    // collection rule and association of modules/managed-prometheus.bicep; the API pods' scrape job is
    // monitoring/prometheus-scrape-config.yaml (installed by scripts/aks-deploy.sh).
    azureMonitorProfile: {
      metrics: {
        enabled: true
      }
    }
    addonProfiles: {
      omsagent: {
        enabled: true
        config: {
          logAnalyticsWorkspaceResourceID: logAnalyticsWorkspaceId
        }
      }
    }
    autoUpgradeProfile: {
      upgradeChannel: 'patch'
      nodeOSUpgradeChannel: 'NodeImage'
    }
  }
}

// The kubelet pulls images from the registry with its managed identity.
resource kubeletAcrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(acr.id, aks.id, acrPull)
  scope: acr
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPull)
    principalId: aks.properties.identityProfile.kubeletidentity.objectId
    principalType: 'ServicePrincipal'
  }
}

// Identity of the API pods (annotation azure.workload.identity/client-id on the ServiceAccount).
resource workloadIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: workloadIdentityName
  location: location
  tags: tags
}

resource federatedCredential 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = {
  parent: workloadIdentity
  name: 'aks-${serviceAccountNamespace}-${serviceAccountName}'
  properties: {
    issuer: aks.properties.oidcIssuerProfile.issuerURL
    subject: 'system:serviceaccount:${serviceAccountNamespace}:${serviceAccountName}'
    audiences: [
      'api://AzureADTokenExchange'
    ]
  }
}

resource modelStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: modelStorageAccountName

  resource blobServices 'blobServices' existing = {
    name: 'default'

    resource modelContainer 'containers' existing = {
      name: modelContainerName
    }
  }
}

// The pods read model.onnx + model.json, nothing else.
resource workloadModelReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(modelStorage::blobServices::modelContainer.id, workloadIdentity.id, storageBlobDataReader)
  scope: modelStorage::blobServices::modelContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: workloadIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

output clusterName string = aks.name
output acrName string = acr.name
output acrLoginServer string = acr.properties.loginServer
output oidcIssuerUrl string = aks.properties.oidcIssuerProfile.issuerURL
output workloadIdentityClientId string = workloadIdentity.properties.clientId
