from routing.upstream import simulated_providers_banner


def product(request):
    return {"simulator_banner": simulated_providers_banner()}
