// Azure Monitor managed Prometheus for the AKS cluster, wired end to end as in Microsoft's reference template
// (github.com/Azure/prometheus-collector, AddonBicepTemplate/FullAzureMonitorMetricsProfile.bicep):
//   Azure Monitor workspace <- data collection rule (prometheusForwarder, via a data collection endpoint)
//   <- data collection rule association on the cluster. Without the DCR and its association the cluster's
//   metrics add-on (azureMonitorProfile.metrics, modules/aks.bicep) has nowhere to send anything.
// Plus the service's alert rule groups (prometheus-rules.bicep, generated from monitoring/alerts/rules.yaml) and,
// optionally, Azure Managed Grafana reading the workspace (import monitoring/grafana-dashboard.json with
// scripts/grafana-dashboard.sh; docs/DEPLOYMENT.md, "Monitoring").
//
// The API pods are scraped through the job in monitoring/prometheus-scrape-config.yaml, which
// scripts/aks-deploy.sh installs as ConfigMap kube-system/ama-metrics-prometheus-config.
param location string
param tags object = {}
@description('Existing AKS cluster (same resource group) whose metrics are collected.')
param clusterName string
param workspaceName string
@description('Also create Azure Managed Grafana with the workspace as data source.')
param deployGrafana bool = false
param grafanaName string = ''
@description('Object id that becomes Grafana Admin (the deploying user); empty: nobody.')
param grafanaAdminPrincipalId string = ''
@allowed(['User', 'ServicePrincipal', 'Group'])
param grafanaAdminPrincipalType string = 'User'
@description('Action group notified by the alert rules (empty: alerts fire without notifications).')
param actionGroupId string = ''

var monitoringDataReader = 'b0d8363b-8ddd-447d-831f-62ca05bff136'
var grafanaAdmin = '22926164-76b3-42b3-bc55-97df8dab3e41'
// The reference template's names: DCE at most 44 characters, DCR at most 64.
var msProm = 'MSProm-${location}-${clusterName}'

resource aks 'Microsoft.ContainerService/managedClusters@2024-09-01' existing = {
  name: clusterName
}

resource workspace 'Microsoft.Monitor/accounts@2023-04-03' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {}
}

resource dce 'Microsoft.Insights/dataCollectionEndpoints@2022-06-01' = {
  name: take(msProm, 44)
  location: location
  tags: tags
  kind: 'Linux'
  properties: {}
}

resource dcr 'Microsoft.Insights/dataCollectionRules@2022-06-01' = {
  name: take(msProm, 64)
  location: location
  tags: tags
  kind: 'Linux'
  properties: {
    description: 'Managed Prometheus metrics of ${clusterName} to ${workspaceName}'
    dataCollectionEndpointId: dce.id
    dataSources: {
      prometheusForwarder: [
        {
          name: 'PrometheusDataSource'
          streams: [
            'Microsoft-PrometheusMetrics'
          ]
          labelIncludeFilter: {}
        }
      ]
    }
    destinations: {
      monitoringAccounts: [
        {
          accountResourceId: workspace.id
          name: 'MonitoringAccount1'
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          'Microsoft-PrometheusMetrics'
        ]
        destinations: [
          'MonitoringAccount1'
        ]
      }
    ]
  }
}

// The association is an extension resource of the cluster ("Deleting this association will break the data
// collection for this AKS Cluster", as the reference template says).
resource dcra 'Microsoft.Insights/dataCollectionRuleAssociations@2022-06-01' = {
  name: 'MSProm-${location}-${clusterName}'
  scope: aks
  properties: {
    description: 'Association of data collection rule. Deleting this association will break the data collection for this AKS Cluster.'
    dataCollectionRuleId: dcr.id
  }
}

module rules 'prometheus-rules.bicep' = {
  name: 'prometheus-rules'
  dependsOn: [dcra]
  params: {
    location: location
    tags: tags
    azureMonitorWorkspaceId: workspace.id
    clusterResourceId: aks.id
    clusterName: clusterName
    actionGroupId: actionGroupId
  }
}

resource grafana 'Microsoft.Dashboard/grafana@2023-09-01' = if (deployGrafana) {
  name: grafanaName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    grafanaIntegrations: {
      azureMonitorWorkspaceIntegrations: [
        {
          azureMonitorWorkspaceResourceId: workspace.id
        }
      ]
    }
  }
}

// Grafana reads the workspace with its managed identity.
resource grafanaReadsWorkspace 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployGrafana) {
  name: guid(workspace.id, grafanaName, monitoringDataReader)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringDataReader)
    principalId: grafana.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// The deploying user administers Grafana (imports the dashboard).
resource grafanaAdminAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployGrafana && !empty(grafanaAdminPrincipalId)) {
  name: guid(grafanaName, grafanaAdminPrincipalId, grafanaAdmin)
  scope: grafana
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', grafanaAdmin)
    principalId: grafanaAdminPrincipalId
    principalType: grafanaAdminPrincipalType
  }
}

output workspaceId string = workspace.id
output workspaceName string = workspace.name
output prometheusQueryEndpoint string = workspace.properties.metrics.prometheusQueryEndpoint
output dataCollectionEndpointName string = dce.name
output dataCollectionRuleName string = dcr.name
output dataCollectionRuleAssociationName string = dcra.name
output ruleGroupNames array = rules.outputs.ruleGroupNames
output grafanaName string = deployGrafana ? grafana.name : ''
output grafanaEndpoint string = deployGrafana ? grafana.properties.endpoint : ''
