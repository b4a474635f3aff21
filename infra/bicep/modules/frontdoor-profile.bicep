// Azure Front Door (Standard) profile, on its own so that its id (the X-Azure-FDID every forwarded request
// carries) can lock the Function App down before the endpoint and route that point at the app exist.
// The endpoint, origin and caching rules are in frontdoor.bicep.
param name string
param tags object = {}

resource profile 'Microsoft.Cdn/profiles@2024-02-01' = {
  name: name
  location: 'global'
  tags: tags
  sku: {
    name: 'Standard_AzureFrontDoor'
  }
  properties: {
    // A bulk prediction of MAX_BATCH houses may take several seconds on a cold instance.
    originResponseTimeoutSeconds: 60
  }
}

output name string = profile.name
// The value Front Door sends as X-Azure-FDID; the Function App accepts only requests that carry it.
output frontDoorId string = profile.properties.frontDoorId
